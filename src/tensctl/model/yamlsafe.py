"""A restricted YAML reader for hand-edited files: plain data only, with source positions.

On top of PyYAML's safe loader it refuses what a protocol file never needs and an attacker
or a typo might bring: files over :data:`MAX_BYTES`, anchors and aliases (billion-laughs),
explicit tags, nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_NODES` nodes,
duplicate keys, non-string keys, several documents, NaN and infinities. Every value keeps
the line and column it came from, so later errors can point at it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, DocumentStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tensctl.errors import InputError, Problem

MAX_BYTES = 1_048_576
MAX_DEPTH = 24
MAX_NODES = 50_000

PathKey = tuple[str | int, ...]


@dataclass
class Document:
    """Plain data read from a file, and where each value started (1-based line, column)."""

    source: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: PathKey) -> tuple[int, int] | None:
        """The position of the deepest existing prefix of ``path``."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return None


def _problem(source: str, message: str, mark: Any = None) -> InputError:
    line = mark.line + 1 if mark is not None else None
    col = mark.column + 1 if mark is not None else None
    return InputError([Problem(message, source, line, col)])


def read_yaml_file(path: Path) -> Document:
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _problem(
                source, f"file is {size:,} bytes; the limit is {MAX_BYTES:,} bytes (1 MiB)"
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _problem(source, "no such file") from None
    except IsADirectoryError:
        raise _problem(source, "is a directory, expected a YAML file") from None
    except PermissionError:
        raise _problem(source, "permission denied") from None
    except OSError as exc:
        raise _problem(source, f"cannot read file: {exc.strerror}") from None
    return read_yaml_bytes(raw, source)


def read_yaml_bytes(raw: bytes, source: str) -> Document:
    if len(raw) > MAX_BYTES:
        raise _problem(source, f"input is {len(raw):,} bytes; the limit is {MAX_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _problem(source, f"not UTF-8 text (bad byte at offset {exc.start})") from None
    if not text.strip():
        raise _problem(source, "file is empty")
    try:
        _screen_events(text, source)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise _problem(source, f"YAML syntax error: {problem}{context}", exc.problem_mark) from None
    except yaml.YAMLError as exc:
        raise _problem(source, f"YAML error: {exc}") from None
    if node is None:
        raise _problem(source, "file is empty (only comments or blank lines)")
    doc = Document(source, None)
    doc.data = _build(node, (), doc)
    return doc


def _screen_events(text: str, source: str) -> None:
    """Refuse aliases, anchors, tags, deep nesting and huge node counts before composing."""
    depth = 0
    nodes = 0
    documents = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _problem(source, "only one YAML document per file", event.start_mark)
        if isinstance(event, AliasEvent):
            raise _problem(
                source, "YAML aliases (*name) are not allowed: write values out", event.start_mark
            )
        if isinstance(event, NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise _problem(source, f"more than {MAX_NODES:,} YAML nodes", event.start_mark)
            if event.anchor is not None:
                raise _problem(
                    source, f"YAML anchors (&{event.anchor}) are not allowed", event.start_mark
                )
            tag = getattr(event, "tag", None)
            implicit = getattr(event, "implicit", True)
            explicit_tag = tag is not None and (
                implicit is False or (isinstance(implicit, tuple) and not any(implicit))
            )
            if explicit_tag:
                raise _problem(source, f"YAML tags ({tag}) are not allowed", event.start_mark)
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _problem(source, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark)
        elif type(event).__name__ in ("MappingEndEvent", "SequenceEndEvent"):
            depth -= 1


_CONSTRUCTOR = yaml.SafeLoader.__new__(yaml.SafeLoader)
yaml.constructor.SafeConstructor.__init__(_CONSTRUCTOR)


def _build(node: Node, path: PathKey, doc: Document) -> Any:
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, doc.source)
            if not isinstance(key, str):
                raise _problem(doc.source, f"keys must be text, found {key!r}", key_node.start_mark)
            if key in out:
                first = doc.marks[(*path, key)][0]
                raise _problem(
                    doc.source,
                    f"duplicate key '{key}' (first at line {first})",
                    key_node.start_mark,
                )
            out[key] = _build(value_node, (*path, key), doc)
        return out
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc) for i, item in enumerate(node.value)]
    return _scalar(node, doc.source)


def _scalar(node: Node, source: str) -> Any:
    if not isinstance(node, ScalarNode):
        raise _problem(source, "a key must be a plain value", node.start_mark)
    value = _CONSTRUCTOR.construct_object(node, deep=True)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise _problem(
            source,
            f"'{node.value}' is not a finite number; NaN and infinities are not allowed",
            node.start_mark,
        )
    if not isinstance(value, str | int | float | bool) and value is not None:
        # dates and timestamps: keep the text the user wrote
        return node.value
    return value
