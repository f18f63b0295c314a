"""Reading a study file strictly: UTF-8 text, YAML whose aliases cannot expand without bound, no key given twice.

`yaml.safe_load` builds no objects from tags, but it accepts a key written twice in one mapping (the last one
wins, silently) and aliases that share nodes, so ten nested anchors can stand for 10^9 items once anything
walks the result. `parse_yaml` reads the document's node graph first, refuses either, and only then builds
the Python objects.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000  # nodes of the document once every alias is expanded; a study file holds a few hundred


class StrictYAMLError(ValueError):
    """The text is not a study file's YAML: undecodable, a key given twice, or aliases that expand too far."""


def decode(data: bytes) -> str:
    """`data` as UTF-8 text (a leading byte-order mark dropped), else one line naming the offending byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise StrictYAMLError(f"not UTF-8 text: byte {err.start} is 0x{data[err.start]:02x}; save the file as "
                              f"UTF-8") from None


def parse_yaml(text: str) -> Any:
    """The document's Python value, after checking its node graph (see the module docstring)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    _check_keys(node)
    size = _expanded_size(node, {})
    if size > MAX_NODES:
        raise StrictYAMLError(f"its aliases expand to more than {MAX_NODES:,} nodes: refused, as a study file "
                              f"never needs that many; write the values out or use fewer nested anchors")
    return yaml.SafeLoader(text).get_single_data()


def _expanded_size(node: yaml.Node, known: dict[int, int]) -> int:
    """Nodes under `node` with every alias expanded, computed once per shared node (so the count is cheap
    even when the expansion is not); capped just above MAX_NODES."""
    if id(node) in known:
        return known[id(node)]
    known[id(node)] = MAX_NODES + 1  # a node that contains itself (a recursive alias) expands without end
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    total = 1
    for child in children:
        total = min(total + _expanded_size(child, known), MAX_NODES + 1)
    known[id(node)] = total
    return total


def _check_keys(node: yaml.Node, seen: set[int] | None = None) -> None:
    """Refuse a mapping that gives one key twice, naming the key and both lines."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in lines:
                    raise StrictYAMLError(f"key {key.value!r} is given twice in one mapping (lines "
                                          f"{lines[key.value]} and {line}); keep one")
                lines[key.value] = line
            _check_keys(key, seen)
            _check_keys(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _check_keys(child, seen)
