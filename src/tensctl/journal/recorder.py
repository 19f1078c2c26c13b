"""Writes a running session into the store: its header, every event as it happens, the
outcomes before and after, and its end.

A write that fails (disk full, store locked too long) does not raise into the engine; the
recorder remembers it and :meth:`Recorder.health` reports it, which refuses a start and
faults a running session — stimulation without a record is not continued.
"""

from __future__ import annotations

import getpass
import json
import os
import threading
from collections.abc import Mapping
from typing import Any

from tensctl.errors import StoreError
from tensctl.journal import chain
from tensctl.journal.session_writer import SessionWriter
from tensctl.journal.store import Store
from tensctl.journal.writer import BatchedWriter, QueuedWriter
from tensctl.model.outcomes import Outcomes, outcome_event


def default_operator() -> str:
    try:
        return os.environ.get("TENSCTL_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (containers)
        return f"uid {os.getuid()}"


class Recorder:
    def __init__(self, writer: SessionWriter, operator: str, realtime: bool = True) -> None:
        self.writer, self.operator = writer, operator
        self.queue: QueuedWriter | BatchedWriter = (
            QueuedWriter(writer) if realtime else BatchedWriter(writer)
        )
        self.elapsed_s = 0.0
        self.closed = False
        self._outcomes: dict[str, int] = {}  # when → the event number of the latest
        self._outcome_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        store: Store,
        *,
        protocol_json: str,
        protocol_id: str,
        protocol_name: str,
        patient: str | None,
        device: Mapping[str, Any],
        operator: str | None = None,
        realtime: bool = True,
    ) -> Recorder:
        """``device``: url, model, serial, firmware, simulated."""
        who = operator or default_operator()
        header = {
            "patient_id": patient,
            "protocol_id": protocol_id,
            "protocol_name": protocol_name,
            "device_url": device["url"],
            "device_model": device["model"],
            "device_serial": device["serial"],
            "firmware": device["firmware"],
            "simulated": device["simulated"],
            "operator": who,
        }
        return cls(store.open_session(header, protocol_json), who, realtime)

    @property
    def store_path(self) -> str:
        return str(self.writer.store.path)

    @property
    def session_id(self) -> int:
        return self.writer.session_id

    @property
    def error(self) -> str | None:
        return self.queue.error

    def write(self, kind: str, elapsed_s: float, data: Mapping[str, Any]) -> None:
        """An event of the running session: queued, off the output path (never raises)."""
        self.elapsed_s = max(self.elapsed_s, elapsed_s)
        self.queue.put(kind, elapsed_s, data)

    def health(self) -> str | None:
        problem = self.queue.problem()
        return None if problem is None else f"the session record cannot be written: {problem}"

    def screening(self, confirmed: bool, how: str) -> None:
        """The contraindication answer: when (the event's time), by whom, and how given."""
        self.write(
            "screening", 0.0, {"confirmed": confirmed, "how": how, "operator": self.operator}
        )

    def outcomes(
        self, when: str, values: Outcomes, reason: str | None = None, source: str = ""
    ) -> int:
        """``when``: "before" or "after" the session. Not on the output path: written at
        once — while the session runs, after every event queued before it; after its end,
        straight into its chain (and sealed with it) — and a failure raises
        :class:`StoreError` to the caller. Given again, they are an amendment and need a
        ``reason``. Returns the outcome event's number."""
        with self._outcome_lock:
            data = outcome_event(
                when, values, self.operator, self._outcomes.get(when), reason, source
            )
            if not self.closed:
                self.queue.flush()
            self.writer.append("outcome", self.elapsed_s, data)
            self._outcomes[when] = self.writer.seq
            return self.writer.seq

    def close(self, reason: str) -> None:
        """The end record, after every queued event (a failure is kept in :attr:`error`)."""
        try:
            self.queue.flush()
            self.writer.close(reason or "closed", self.elapsed_s)
        except StoreError as exc:
            self.queue.error = self.queue.error or str(exc)
        finally:
            self.queue.stop()
            self.closed = True


def protocol_text(model_json: str) -> str:
    """The protocol as stored: canonical JSON of the validated model (hashable, exact)."""
    return chain.canonical(json.loads(model_json))
