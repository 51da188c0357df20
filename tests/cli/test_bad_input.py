"""Bad input: each malformed suite or command line exits 2 with a short message that
names the key path and the fix, shows no traceback and writes nothing.

Every case runs through ``lpg_meta.cli.main`` in-process (a subprocess costs ~2 s of imports);
a few run again as real ``python -m lpg_meta.cli`` processes to prove that the user sees one
clean line on stderr. "Nothing written" is checked on the whole temporary folder, which holds
the suite, its output folder, the default journal and the working directory (``runs/``).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from lpg_meta.cli import main
from lpg_meta.stage import is_progress

# A small valid suite; each case edits a copy. Tiny sizes keep a wrongly accepted case cheap,
# and such a case still fails: it writes results (and usually exits 0).
BASE: dict[str, Any] = yaml.safe_load("""
suite: t
defaults:
  data: {num_samples: 600}
  train: {epochs: 1, progress: none}
datasets:
  lt: {source: mnist1d, imbalance: 10}
methods:
  ce: {}
  lpg_scale:
    tune: {eps: [log, 0.01, 0.9]}
seeds: [0]
tuning: {trials: 1}
""")

Edit = Callable[[dict[str, Any], Path], None]
Setup = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One malformed input: the command line, how the suite is broken, what the message must say."""

    id: str
    argv: tuple[str, ...]  # "{suite}", "{tmp}" and "{out}" are filled in per test
    expect: tuple[str, ...]  # substrings of the message: the key path and the fix
    edit: Edit | None = None  # changes the base suite (a dict) before it is written
    text: str | None = None  # raw suite YAML instead of the base (for what a dict cannot hold)
    setup: Setup | None = None  # creates files under tmp before the run
    env: dict[str, str | None] = field(default_factory=dict)  # None unsets a variable
    root_skip: bool = False  # relies on file permissions, which do not bind root


def setting(path: str, value: Any) -> Edit:
    """An edit that sets ``suite[a][b]... = value`` along a dotted path ("{tmp}" in strings is filled in)."""
    def edit(suite: dict[str, Any], tmp: Path) -> None:
        *parents, last = path.split(".")
        node = suite
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value.format(tmp=tmp) if isinstance(value, str) else value
    return edit


def only_dataset(name: str, row: dict[str, Any]) -> Edit:
    """An edit that replaces the dataset rows with one row ("{tmp}" in its data.root is filled in)."""
    def edit(suite: dict[str, Any], tmp: Path) -> None:
        row_copy = copy.deepcopy(row)
        data = row_copy.get("data", {})
        if isinstance(data.get("root"), str):
            data["root"] = data["root"].format(tmp=tmp)
        suite["datasets"] = {name: row_copy}
        suite["defaults"].pop("data")  # num_samples is MNIST-1D's own setting
    return edit


def a_file(relative: str, content: str = "x") -> Setup:
    """A setup that writes a regular file (to stand where a folder is expected)."""
    def setup(tmp: Path) -> None:
        path = tmp / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return setup


def a_folder(relative: str) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / relative).mkdir(parents=True)
    return setup


def read_only_folder(tmp: Path) -> None:
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o500)


TRUNCATED = '{"status": "ok", "metrics": {"test": {"accuracy": 0.5'
RUN = ("run", "{suite}")
CIFAR = {"source": "cifar10", "data": {"root": "{tmp}/no_such_folder"}}

CASES = [
    # Unknown keys and typos in names: the closest name is suggested.
    Case("unknown top-level key", RUN, ("seed: unknown key", "Did you mean 'seeds'"), setting("seed", [0])),
    Case("unknown dataset key", RUN, ("datasets.lt.imbalnce", "'imbalance'"), setting("datasets.lt.imbalnce", 5)),
    Case("unknown data setting", RUN, ("datasets.lt.data.num_sample", "'num_samples'"),
         setting("datasets.lt.data", {"num_sample": 5})),
    Case("method row typo", RUN, ("methods.lpgg.method", "Did you mean 'lpg'"), setting("methods.lpgg", {})),
    Case("method name typo", RUN, ("methods.x.method", "Did you mean 'lpg_scale'"),
         setting("methods.x", {"method": "lpg_scal"})),
    Case("dataset source typo", RUN, ("datasets.lt.source", "Did you mean 'mnist1d'"),
         setting("datasets.lt.source", "mnist1e")),
    Case("tuning metric typo", RUN, ("tuning.metric", "Did you mean 'balanced_accuracy'"),
         setting("tuning.metric", "balanced_acc")),
    Case("tune dimension typo", RUN, ("methods.lpg_scale.tune.epss", "'eps'"),
         setting("methods.lpg_scale.tune", {"epss": ["log", 0.01, 0.9]})),
    # Wrong types.
    Case("trials not an integer", RUN, ("tuning.trials", "integer >= 0"), setting("tuning.trials", "many")),
    Case("imbalance not a number", RUN, ("datasets.lt.imbalance", "number"), setting("datasets.lt.imbalance", "ten")),
    Case("seeds not a list", RUN, ("seeds", "list of integers"), setting("seeds", "0,1")),
    Case("section not a mapping", RUN, ("defaults.train", "mapping"), setting("defaults.train", [1])),
    Case("method param type", RUN, ("methods.lpg_scale.params.eps", "number"),
         setting("methods.lpg_scale.params", {"eps": "big"})),
    Case("suite not a mapping", RUN, ("the file must be a mapping", "suite: NAME"), text="- a\n- b\n"),
    Case("invalid YAML", RUN, ("invalid YAML", "line 2"), text="suite: [t\n"),
    # Ranges.
    Case("noise rate 1", RUN, ("datasets.lt.noise_rate", "[0, 1)"), setting("datasets.lt.noise_rate", 1.0)),
    Case("noise rate negative", RUN, ("datasets.lt.noise_rate", "[0, 1)"), setting("datasets.lt.noise_rate", -0.1)),
    Case("noise rate without a kind", RUN, ("datasets.lt.noise_rate", "datasets.lt.noise", "sym"),
         setting("datasets.lt.noise_rate", 0.2)),
    Case("imbalance below 1", RUN, ("datasets.lt.imbalance", ">= 1"), setting("datasets.lt.imbalance", 0.5)),
    Case("repeated seed", RUN, ("seeds", "repeats"), setting("seeds", [1, 1])),
    # Empty or duplicated rows and cells.
    Case("empty matrix", RUN, ("matrix", "no cell"), setting("matrix", {"exclude": ["lt/*"]})),
    Case("no dataset rows", RUN, ("datasets: no rows", "add at least one"), setting("datasets", {})),
    Case("duplicate method rows", RUN, ("methods.ce: duplicate key", "rename or remove one"),
         text="suite: t\ndatasets: {lt: {imbalance: 10}}\nmethods:\n  ce: {}\n  ce: {params: {}}\noutput: {out}\n"),
    Case("duplicate dataset rows", RUN, ("datasets.lt: duplicate key", "rename or remove one"),
         text="suite: t\ndatasets:\n  lt: {imbalance: 10}\n  lt: {imbalance: 5}\nmethods: {ce: {}}\noutput: {out}\n"),
    Case("bad row name", RUN, ("methods.a/b", "not a valid name"), setting("methods", {"a/b": {"method": "ce"}})),
    # Plug-ins that cannot compose.
    Case("base is not a plug-in", RUN, ("methods.x.method", "not a plug-in"),
         setting("methods.x", {"method": "ce+la"})),
    Case("plug-in into a meta method", RUN, ("methods.x.method", "cannot compose", "loss"),
         setting("methods.x", {"method": "lpg+mwnet"})),
    # Data that is not there.
    Case("missing CIFAR folder", RUN, ("datasets.c10.data.root", "no_such_folder", "cifar-10-batches-py"),
         only_dataset("c10", CIFAR)),
    Case("CIFAR folder without the data", RUN, ("datasets.c10.data.root", "cifar-10-batches-py", "data.download"),
         only_dataset("c10", {**CIFAR, "data": {"root": "{tmp}/empty"}}), setup=a_folder("empty")),
    Case("CIFAR root unset", RUN, ("datasets.c10.data.root", "LPG_DATA"),
         only_dataset("c10", {"source": "cifar10"}), env={"LPG_DATA": None}),
    Case("missing --data-root folder", (*RUN, "--data-root", "{tmp}/no_such_folder"),
         ("datasets.c10.data.root", "no_such_folder", "cifar-10-batches-py"),
         only_dataset("c10", {"source": "cifar10"}), env={"LPG_DATA": "/restored/after/the/test"}),
    Case("missing image folder", RUN, ("datasets.imgs.data.root", "no_such_folder", "train"),
         only_dataset("imgs", {**CIFAR, "source": "imagefolder"})),
    # Storage.
    Case("unknown storage scheme", (*RUN, "--storage", "foo://bar"), ("--storage", "foo", "sqlite:///")),
    Case("unreachable database", (*RUN, "--storage", "postgresql://nobody@127.0.0.1:1/x"),
         ("--storage", "127.0.0.1", "sqlite:///")),
    Case("journal under a file", (*RUN, "--storage", "{tmp}/afile/x.journal"), ("--storage", "afile", "not a folder"),
         setup=a_file("afile")),
    Case("sqlite under a file", (*RUN, "--storage", "sqlite:///{tmp}/afile/x.db"),
         ("--storage", "afile", "not a folder"), setup=a_file("afile")),
    Case("postgres scheme", (*RUN, "--storage", "postgres://nobody@127.0.0.1:1/x"), ("--storage", "postgresql://")),
    Case("database without a driver", (*RUN, "--storage", "mysql://nobody@127.0.0.1:1/x"),
         ("--storage", "127.0.0.1", "sqlite:///")),  # no mysql driver ships: "install it"; else refused
    Case("journal is a folder", (*RUN, "--storage", "{tmp}"), ("--storage", "is a folder", "optuna.journal")),
    Case("sqlite file is not a database", (*RUN, "--storage", "sqlite:///{tmp}/afile"),
         ("--storage", "afile", "not a usable SQLite database"), setup=a_file("afile", "not sqlite " * 20)),
    Case("bad storage on a dry run", (*RUN, "--dry-run", "--storage", "foo://bar"), ("--storage", "foo")),
    Case("suite storage scheme", RUN, ("storage", "foo", "sqlite:///"), setting("storage", "foo://bar")),
    Case("suite storage type", RUN, ("storage must be a non-empty string",), setting("storage", 5)),
    # Output folder.
    Case("output under a file", RUN, ("output", "afile", "not a folder"), setting("output", "{tmp}/afile/out"),
         setup=a_file("afile")),
    Case("output is a file", RUN, ("output", "afile", "not a folder"), setting("output", "{tmp}/afile"),
         setup=a_file("afile")),
    Case("output not writable", RUN, ("output", "ro", "not writable"), setting("output", "{tmp}/ro/out"),
         setup=read_only_folder, root_skip=True),
    Case("corrupted result.json", RUN, ("out/lt/ce/seed0/result.json", "delete"),
         setup=a_file("out/lt/ce/seed0/result.json", TRUNCATED)),
    Case("result.json not an object", RUN, ("out/lt/ce/seed0/result.json", "delete"),
         setup=a_file("out/lt/ce/seed0/result.json", "[]")),
    # The run command line.
    Case("zero workers", (*RUN, "--workers", "0"), ("--workers", "positive integer")),
    Case("workers not a number", (*RUN, "--workers", "two"), ("--workers", "invalid int value")),
    Case("--only matches nothing", (*RUN, "--only", "zz/*"), ("--only", "matches no cell", "lt/ce")),
    Case("unknown flag", (*RUN, "--bogus"), ("unrecognized arguments: --bogus", "lpg-meta run --help")),
    Case("misspelled flag", (*RUN, "--stroage", "x.db"), ("--stroage", "Did you mean '--storage'")),
    Case("missing suite file", ("run", "{tmp}/nope.yaml"), ("nope.yaml", "No such file", "check the path")),
    # Other sub-commands.
    Case("train method typo", ("train", "--method", "lpgg"), ("--method", "Did you mean 'lpg'")),
    Case("train dataset typo", ("train", "--dataset", "mnist1e"), ("--dataset", "Did you mean 'mnist1d'")),
    Case("train setting typo", ("train", "--set", "optim.lrr=0.1"), ("optim.lrr", "'lr'")),
    Case("train noise rate", ("train", "--set", "data.noise_rate=1.5"), ("data.noise_rate", "[0, 1)")),
    Case("train --set without =", ("train", "--set", "optim.lr"), ("--set expects key=value",)),
    Case("train --out under a file", ("train", "--out", "{tmp}/afile/run"), ("--out", "afile", "not a folder"),
         setup=a_file("afile")),
    Case("train missing CIFAR", ("train", "--dataset", "cifar10", "--set", "data.root={tmp}/no_such_folder"),
         ("data.root", "no_such_folder")),
    Case("data imbalance", ("data", "--set", "data.imbalance=0.5"), ("data.imbalance", ">= 1")),
    Case("table missing folder", ("table", "{tmp}/nope"), ("nope", "does not exist")),
    Case("table corrupted result", ("table", "{out}"), ("result.json", "delete"),
         setup=a_file("out/lt/ce/seed0/result.json", TRUNCATED)),
    Case("table unknown format", ("table", "{out}", "--format", "xlsx"), ("--format", "invalid choice")),
    Case("plot without a folder", ("plot",), ("required: root",)),
    Case("no sub-command", (), ("required: command",)),
]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def prepare(case: Case, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write the case's suite and files under ``tmp`` and return its argv."""
    if case.root_skip and os.geteuid() == 0:
        pytest.skip("file permissions do not stop root; 'output under a file' covers an unwritable output")
    out = tmp / "out"
    if case.text is not None:
        (tmp / "suite.yaml").write_text(case.text.replace("{out}", str(out)))
    else:
        suite = copy.deepcopy(BASE)
        suite["output"] = str(out)
        if case.edit is not None:
            case.edit(suite, tmp)
        (tmp / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    if case.setup is not None:
        case.setup(tmp)
    for name, value in case.env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp)  # train's default output (runs/) would land here
    return [a.format(suite=tmp / "suite.yaml", tmp=tmp, out=out) for a in case.argv]


def check_message(stderr: str, stdout: str, expect: tuple[str, ...]) -> None:
    """Exit-2 output: short, no traceback, the error last, naming the key path and the fix.

    Progress lines of slow steps (``lpg_meta.stage``, e.g. loading torch) may come before it.
    """
    stderr = "".join(line for line in stderr.splitlines(keepends=True) if not is_progress(line.rstrip("\n")))
    lines = stderr.strip().splitlines()
    assert stdout == "", stdout
    assert "Traceback" not in stderr
    assert 1 <= len(lines) <= 6 and len(stderr) <= 800, stderr
    assert "error:" in lines[-1], stderr
    for text in expect:
        assert text in stderr, f"{text!r} not in {stderr!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_names_the_fix_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    argv = prepare(case, tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    captured = capsys.readouterr()
    assert code == 2, captured.err or captured.out
    check_message(captured.err, captured.out, case.expect)
    assert snapshot(tmp_path) == before  # nothing created, changed or removed


def test_the_table_has_at_least_30_distinct_cases():
    assert len({c.id for c in CASES}) == len(CASES) >= 30


# A few cases again as the user runs them: a real process, whose stderr must be exactly one line.
SUBPROCESS = ["noise rate 1", "unreachable database", "corrupted result.json", "missing CIFAR folder",
              "zero workers"]


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS], ids=lambda c: c.id)
def test_bad_input_in_a_real_process(case, tmp_path, monkeypatch):
    argv = prepare(case, tmp_path, monkeypatch)
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "lpg_meta.cli", *argv], capture_output=True, text=True,
                          cwd=tmp_path, env=os.environ, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("lpg-meta: error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    check_message(proc.stderr, proc.stdout, case.expect)
    assert snapshot(tmp_path) == before


def test_unwritable_output_is_reported_also_as_root(tmp_path, monkeypatch, capsys):
    """The 'output not writable' case, with the permission denied by a stand-in for os.access.

    Root passes every permission check, so the chmod case above is skipped there; this keeps
    the branch tested everywhere.
    """
    case = next(c for c in CASES if c.id == "output not writable")
    argv = prepare(Case(case.id, case.argv, case.expect, case.edit, setup=a_folder("ro")), tmp_path, monkeypatch)
    real_access = os.access
    denied = str(tmp_path / "ro")
    monkeypatch.setattr(os, "access",
                        lambda path, mode: False if os.fspath(path) == denied else real_access(path, mode))
    before = snapshot(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    check_message(captured.err, captured.out, case.expect)
    assert snapshot(tmp_path) == before


def test_good_input_passes_the_checks_and_writes_nothing(tmp_path, monkeypatch, capsys):
    """The checks do not reject what is right: data folders laid out, a good result, a new database."""
    from lpg_meta.bench import make_plan
    from lpg_meta.bench.preflight import preflight

    suite = copy.deepcopy(BASE)
    suite["output"] = str(tmp_path / "out")
    suite["datasets"]["lt"]["data"] = suite["defaults"].pop("data")  # num_samples is MNIST-1D's own
    suite["datasets"]["c10"] = {"source": "cifar10", "data": {"root": str(tmp_path / "cifar")}}
    suite["datasets"]["imgs"] = {"source": "imagefolder", "data": {"root": str(tmp_path / "imgs")}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False))
    for folder in ("cifar/cifar-10-batches-py", "imgs/train/a", "imgs/test/a"):
        a_folder(folder)(tmp_path)
    a_file("out/lt/ce/seed0/result.json", '{"status": "ok"}')(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    for storage in (None, f"sqlite:///{tmp_path}/new.db", str(tmp_path / "other.journal")):
        preflight(make_plan(tmp_path / "suite.yaml", storage), storage)
    assert main(["run", str(tmp_path / "suite.yaml"), "--dry-run", "--only", "lt/*"]) == 0
    assert "lt/ce" in capsys.readouterr().out
    assert snapshot(tmp_path) == before
