"""The simulator's output log: one JSON object per line, flushed as it is written, so a
test (or a person) can read what was commanded and delivered even if a process dies."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from typing import IO, Any


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return _plain(vars(value))
    return value


class JsonLog:
    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path else None

    def __call__(self, entry: dict[str, Any]) -> None:
        if self._file is None:
            return
        line = json.dumps(_plain(entry), separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a log (a line cut short by a crash is skipped)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
