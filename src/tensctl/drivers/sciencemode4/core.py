"""The ScienceMode4 driver's state and the commands that change the device's output.

Locks and counters:

- ``_command_lock``: one output command sequence at a time (``Ml_init``, ``Ml_update``,
  ``Ml_stop``); ``_running`` changes only under it (or in an emergency stop or close).
  Neither the heartbeat's round trip nor the emergency stop takes it, so a stop or a
  decrease never waits for a poll of a silent device.
- ``_generation``: bumped by the emergency stop and close. A command sent under one
  generation is not written, and not committed, under the next, so nothing sent before an
  emergency stop re-enables output after it.
- ``_seq``: odd while an output command is in flight. A current-data report asked for while
  one was in flight, or answered after one started, may predate it and is not used (the
  device keeps a channel's error until the channel is enabled again, so the next report
  still shows it).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from typing import TypeVar

from tensctl.drivers.base import ChannelTelemetry, DeviceEvent, DeviceInfo, Driver
from tensctl.drivers.errors import CommandRefused
from tensctl.drivers.link import LinkSetup
from tensctl.drivers.port import Port
from tensctl.drivers.sciencemode4 import report, shapes
from tensctl.drivers.sciencemode4.link import Link, checked
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode4 import (
    Message,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlStop,
    MlUpdate,
    Result,
)
from tensctl.wire.sciencemode4.midlevel import CHANNELS

M = TypeVar("M", bound=Message)
REPORT_MAX_AGE_S = 0.2  # an update that raises or keeps output asks for a newer report first
OVERTAKEN = "an emergency stop overtook the command"


class Core(Driver):
    def __init__(
        self, port: Port, url: str, profile: DeviceProfile, timeout_s: float, retries: int
    ):
        super().__init__()
        self.url, self.profile = url, profile
        self._lock = threading.RLock()  # driver state
        self._command_lock = threading.Lock()  # one output command sequence at a time
        self._shapes: dict[int, shapes.Shape] = {}
        self._running: dict[int, float] = {}  # channel → amplitude the device was sent (mA)
        self._latched: dict[int, set[str]] = {}
        self._initialised = False
        self._generation = 0
        self._seq = 0
        self._reported_s = -math.inf  # when the last report used was asked for
        self._counters = {n: report.Counters() for n in range(1, profile.channels + 1)}
        self._telemetry: dict[int, ChannelTelemetry] = {}
        self._t0 = time.monotonic()
        self.info: DeviceInfo | None = None
        self._link = Link(LinkSetup(port, url, timeout_s, retries, self._lost))

    # ---- output commands (under _command_lock) ---------------------------------------

    @contextmanager
    def _commanding(self) -> Iterator[int]:
        """An output command in flight; yields the generation it belongs to."""
        with self._lock:
            self._seq += 1
            generation = self._generation
        try:
            yield generation
        finally:
            with self._lock:
                self._seq += 1

    def _send(self, message: Message, what: str, generation: int | None = None) -> Message:
        """``message`` until acknowledged; with a generation, not written after it ended."""
        wanted = None if generation is None else (lambda: self._generation == generation)
        return checked(self._link.request(message, what, allowed=wanted), what)

    def _update(
        self,
        what: str,
        changes: Mapping[int, float | None],
        new: Mapping[int, shapes.Shape] | None = None,
    ) -> None:
        """Ml_update with every running channel, ``changes`` applied (None: left out)."""
        running = dict(self._running)
        for ch, level in changes.items():
            if level is None:
                running.pop(ch, None)
            else:
                running[ch] = level
        chosen = {**self._shapes, **(new or {})}
        try:
            blocks = tuple(
                chosen[n].block(running[n]) if n in running else None
                for n in range(1, CHANNELS + 1)
            )
        except ValueError as exc:
            raise CommandRefused(what, "UNSUPPORTED", str(exc)) from None
        with self._commanding() as generation:
            self._send(MlUpdate(blocks), what, generation)
            with self._lock:
                if self._generation != generation:
                    raise CommandRefused(what, "FAULT_LATCHED", OVERTAKEN)
                self._running = running

    def _stop_all(self, what: str) -> None:
        """Ml_stop (never held back: stopping is always allowed); 7 means nothing ran."""
        with self._commanding():
            reply = self._link.request(MlStop(), what)
            with self._lock:
                self._running.clear()
                self._initialised = False
        checked(reply, what, ok_if_idle=True)
        self._all_stopped("off")

    def _all_stopped(self, state: str, faults: frozenset[str] = frozenset()) -> None:
        """The device acknowledged Ml_stop: every channel is at 0. It sends no report while
        not initialised, so without this its last one would go on saying "on"."""
        with self._lock:
            self._telemetry = {
                ch: replace(
                    t,
                    state=state,
                    commanded_ma=0.0,
                    delivered_peak_ma=0.0,  # as report.report_channel has an idle channel
                    faults=t.faults | faults,
                )
                for ch, t in self._telemetry.items()
            }

    def _resend(self, what: str) -> None:
        """The running channels as the driver has them (fewer than the device runs)."""
        if self._running:
            self._update(what, {})
        elif self._initialised:
            self._stop_all(what)

    # ---- reports --------------------------------------------------------------------

    def _report_stale(self) -> bool:
        return time.monotonic() - self._reported_s > REPORT_MAX_AGE_S

    def _poll_if_stale(self, locked: bool) -> None:
        """Before an update that raises or keeps output: a report no older than
        REPORT_MAX_AGE_S (``locked``: the caller holds the command lock)."""
        if self._initialised and self._report_stale():
            self._poll(locked)

    def _poll(self, locked: bool) -> None:
        """Ml_get_current_data (also the device's keep-alive); its report is used unless
        an output command crossed it."""
        with self._lock:
            seq, asked_s = self._seq, time.monotonic()
        reply = self._link.request(MlGetCurrentData(), "ML_GET_CURRENT_DATA")
        with nullcontext() if locked else self._command_lock:
            with self._lock:
                if seq % 2 or seq != self._seq or not self._initialised:
                    return
            if isinstance(reply, MlGetCurrentDataAck) and reply.result == Result.NOT_INITIALIZED:
                self._device_lost_level()
                return
            ack = checked(reply, "ML_GET_CURRENT_DATA")
            if isinstance(ack, MlGetCurrentDataAck) and self._observe(ack, asked_s):
                self._resend("STOP of channels the device reports in error")

    def _observe(self, ack: MlGetCurrentDataAck, asked_s: float) -> bool:
        """Use a report; True if the device still runs a channel it reports in error."""
        now = time.monotonic() - self._t0
        with self._lock:
            running = dict(self._running)
            telemetry, events = report.observe(
                ack, now, running, self._latched, self._counters, self._shapes
            )
            self._running = running
            self._telemetry.update(telemetry)
            self._reported_s = max(self._reported_s, asked_s)
        self._touch()
        for event in events:
            self._notify(event)
        return any(e.channel is not None and ack.active[e.channel - 1] for e in events)

    def _device_lost_level(self) -> None:
        """Ml_get_current_data answered 'not initialised': the device restarted."""
        with self._lock:
            lost = list(self._running)
            self._running.clear()
            self._initialised = False
            for ch in lost:
                self._latched.setdefault(ch, set()).add("reboot")
        self._notify(DeviceEvent("boot", None, frozenset({"reboot"})))
        for ch in lost:
            self._notify(DeviceEvent("fault", ch, frozenset({"reboot"})))

    # ---- events ---------------------------------------------------------------------

    def _lost(self, tries: int) -> None:
        self._notify(DeviceEvent("link_lost", None, detail=tries))
