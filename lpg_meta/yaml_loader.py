"""The YAML loader of every setting: safe, strict about duplicate keys, and YAML 1.2's numbers.

PyYAML follows YAML 1.1, where ``1e-3`` (no dot) and ``1e3`` are strings; ML researchers write
learning rates that way, so the loader reads them as YAML 1.2 does: floats. Suites, ``--set``
values and ``tune:`` ranges all go through it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from lpg_meta.errors import UserError

# PyYAML's float forms with the exponent's sign optional, and YAML 1.2's 1e-3 (no dot).
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one) and
    reads ``1e-3`` as a float."""

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


# The float resolver replaces SafeLoader's (a copy of the table, so PyYAML's own loaders keep theirs).
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_value(text: str) -> Any:
    """Parse one value (a ``--set`` value) with the suite's rules; text that is not YAML stays text."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return text
