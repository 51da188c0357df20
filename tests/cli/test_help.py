"""Every option of every command says what it does and its default (flags: what they switch on)."""

from __future__ import annotations

import argparse

import pytest

from lpg_meta.cli import build_parser, main

PARSER = build_parser()


def options() -> list[tuple[str, argparse.Action]]:
    return [(name, action) for name, sub in PARSER.commands.items() for action in sub._actions
            if action.option_strings and not isinstance(action, argparse._HelpAction)]


@pytest.mark.parametrize(("command", "action"), options(), ids=lambda v: v if isinstance(v, str) else v.dest)
def test_option_has_help_with_its_default(command, action) -> None:
    assert action.help, f"{command} {action.option_strings[0]}: no help text"
    if not isinstance(action, argparse._StoreTrueAction):
        assert "default" in action.help, f"{command} {action.option_strings[0]}: help names no default"


def test_train_help_shows_the_defaults(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default mnist1d)" in out and "(default ce)" in out and "(default 0)" in out


def test_quick_is_the_command_of_make_quick() -> None:
    assert "quick" in PARSER.commands and "reproduce" not in PARSER.commands
    assert "lpg-meta quick" in open("Makefile").read().split("quick: install", 1)[1].split("\n\n")[0]
