"""A strict YAML loader: safe, and duplicate keys are errors that name their key path."""

from __future__ import annotations

from typing import Any

import yaml

from lpg_meta.errors import UserError


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one)."""

    def construct_document(self, node: yaml.Node) -> Any:
        _check_duplicates(node, "", set())
        return super().construct_document(node)


def _check_duplicates(node: yaml.Node, path: str, seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:  # anchors share nodes; also guards recursive aliases
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            if key is not None and key != "<<":
                if key in keys:
                    raise UserError(f"{where}: duplicate key (lines {keys[key]} and "
                                    f"{key_node.start_mark.line + 1}); rename or remove one.")
                keys[key] = key_node.start_mark.line + 1
            _check_duplicates(value_node, where, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicates(item, f"{path}[{i}]", seen_nodes)


def load_yaml(text: str) -> Any:
    """Parse YAML ``text`` safely; a syntax error or a duplicate key is a ``UserError``."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise UserError(f"invalid YAML: {err}") from None
