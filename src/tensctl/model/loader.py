"""Load protocol files and device profiles, turning every problem into a located message.

Validation errors from pydantic become :class:`~tensctl.errors.Problem` s that carry the
file, line and column, the field path (``phases[1].mode.train_rate_hz``), what was expected
and what was found. An unknown key suggests the nearest known key.
"""

from __future__ import annotations

import types
import typing
from difflib import get_close_matches
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile
from tensctl.model.protocol import Protocol
from tensctl.model.yamlsafe import Document, PathKey, read_yaml_bytes, read_yaml_file

M = TypeVar("M", bound=BaseModel)


def load_protocol(path: Path) -> Protocol:
    return validate_document(read_yaml_file(path), Protocol)


def load_device(path: Path) -> DeviceProfile:
    return validate_document(read_yaml_file(path), DeviceProfile)


def parse_protocol(text: str, source: str = "<string>") -> Protocol:
    return validate_document(read_yaml_bytes(text.encode(), source), Protocol)


def validate_document(doc: Document, model: type[M]) -> M:
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__
        raise InputError(
            [Problem(f"expected a mapping of keys at the top level, found {kind}", doc.source, 1)]
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        problems = [_problem(doc, model, err) for err in exc.errors(include_url=False)]
        raise InputError(_dedupe(problems)) from None


def format_path(loc: PathKey) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _problem(doc: Document, model: type[BaseModel], err: ErrorDetails) -> Problem:
    loc, data_path = _split_loc(doc.data, tuple(err["loc"]))
    mark = doc.locate(data_path)
    line, col = mark if mark else (None, None)
    message = _message(model, loc, err)
    return Problem(message, doc.source, line, col, format_path(data_path))


def _split_loc(data: Any, loc: PathKey) -> tuple[PathKey, PathKey]:
    """Drop the union tags pydantic puts in ``loc`` so the path matches the file."""
    data_path: list[str | int] = []
    node = data
    for part in loc:
        if _has(node, part):
            node = node[part]
            data_path.append(part)
        elif _is_tag(node, part):
            continue
        else:
            data_path.append(part)
            node = None
    return loc, tuple(data_path)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _is_tag(node: Any, part: str | int) -> bool:
    """A discriminator value or a pydantic validator name inside an error location."""
    if isinstance(node, dict) and part in (node.get("type"), node.get("parameter")):
        return True
    return str(part).startswith("function-")


def _message(model: type[BaseModel], loc: PathKey, err: ErrorDetails) -> str:
    kind = err["type"]
    found = err.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        known = _known_keys(model, loc[:-1])
        near = get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        listing = f" (known keys: {', '.join(known)})" if known and not near else ""
        return f"unknown key '{name}'{hint}{listing}"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
            return msg
    if kind.startswith("duration_"):
        return msg
    if kind == "string_pattern_mismatch":
        return (
            "expected an id of lowercase letters, digits, '.', '_' or '-' (up to 64 "
            f"characters, starting with a letter or digit); found {found!r}"
        )
    ctx = err.get("ctx") or {}
    if kind == "union_tag_invalid":
        expected = str(ctx.get("expected_tags", ""))
        options = [t.strip(" '") for t in expected.split(",")]
        near = get_close_matches(str(ctx.get("tag")), options, n=1)
        hint = f"; did you mean '{near[0]}'?" if near else ""
        name = str(ctx.get("discriminator", "type")).strip("'")
        return f"unknown {name} {ctx.get('tag')!r}{hint} (expected {expected})"
    if kind == "union_tag_not_found":
        name = str(ctx.get("discriminator", "type")).strip("'")
        return f"missing '{name}': say which kind this is"
    if isinstance(found, dict | list):
        return f"{msg}; found a {type(found).__name__}"
    return f"{msg}; found {found!r}"


def _known_keys(model: type[BaseModel], loc: PathKey) -> list[str]:
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    target = _strip(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    target = _strip(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        field = target.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(target)
    if origin in (list, tuple) and isinstance(part, int):
        return typing.get_args(target)[0]
    if origin in (typing.Union, types.UnionType):
        for member in typing.get_args(target):
            inner = _strip(member)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                for tag_name in ("type", "parameter"):
                    tag_field = inner.model_fields.get(tag_name)
                    if tag_field is not None and part in typing.get_args(tag_field.annotation):
                        return inner
        return None
    return None


def _strip(annotation: Any) -> Any:
    """Remove Annotated[...] and Optional wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out
