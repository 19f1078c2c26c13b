"""The driver for the Hasomed P24 over ScienceMode4, mid level (P24 IFU pp. 16-26).

- identify: Get_stim_status (a mid level left running by an earlier host is stopped), then
  Get_device_id and Get_extended_version; the limits are the profile's.
- configure stores a channel's pulse shape (see :mod:`.shapes`); on a running channel it is
  sent at once. start: Ml_init once, then Ml_update with the channel at 0 mA. set_amplitude:
  Ml_update with every running channel (a channel missing from an Ml_update stops).
  stop: Ml_update without the channel, or Ml_stop when none is left.
- heartbeat: Ml_get_current_data — the device's keep-alive (stimulation stops 2 s after the
  last Ml_update or Ml_get_current_data) and its only live data (:mod:`.report`). The engine
  calls it when nothing else was sent, so nothing else keeps the device alive.
- emergency_stop: Ml_stop at once (not queued behind other traffic), then a fault latched by
  the driver on every channel until reset_fault.
- measure_impedance: ``nan`` — the P24 measures no impedance at mid level.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import TypeVar

from tensctl.drivers.base import (
    ChannelSettings,
    ChannelTelemetry,
    DeviceEvent,
    DeviceInfo,
    Driver,
    EventCallback,
)
from tensctl.drivers.errors import CommandRefused, DriverError
from tensctl.drivers.sciencemode4 import report, shapes
from tensctl.drivers.sciencemode4.link import Link, Port, checked
from tensctl.errors import InputError, Problem
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode4 import (
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetExtendedVersionAck,
    GetStimStatus,
    GetStimStatusAck,
    Message,
    MlGetCurrentData,
    MlGetCurrentDataAck,
    MlInit,
    MlStop,
    MlUpdate,
    Result,
    StimStatus,
)
from tensctl.wire.sciencemode4.midlevel import CHANNELS

M = TypeVar("M", bound=Message)


class ScienceMode4Driver(Driver):
    def __init__(
        self, port: Port, url: str, profile: DeviceProfile, timeout_s: float, retries: int
    ):
        self.url, self.profile = url, profile
        self._lock = threading.RLock()  # driver state
        self._command_lock = threading.Lock()  # one command at a time (emergency stop aside)
        self._shapes: dict[int, shapes.Shape] = {}
        self._running: dict[int, float] = {}  # channel → amplitude the device was sent (mA)
        self._latched: dict[int, set[str]] = {}
        self._initialised = False
        self._counters = {n: report.Counters() for n in range(1, profile.channels + 1)}
        self._telemetry: dict[int, ChannelTelemetry] = {}
        self._events: deque[DeviceEvent] = deque(maxlen=10_000)
        self._callbacks: list[EventCallback] = []
        self._updates = 0
        self._t0 = time.monotonic()
        self.info: DeviceInfo | None = None
        self._link = Link(port, url, timeout_s, retries, self._lost)

    # ---- the interface -----------------------------------------------------------------

    def identify(self) -> DeviceInfo:
        with self._command_lock:
            status = self._ask(GetStimStatus(), "GET_STIM_STATUS", GetStimStatusAck)
            if status.status in (StimStatus.MID_LEVEL_INITIALIZED, StimStatus.MID_LEVEL_RUNNING):
                self._send(MlStop(), "ML_STOP (left running by an earlier host)")
            self._initialised = False
            ident = self._ask(GetDeviceId(), "GET_DEVICE_ID", GetDeviceIdAck)
            version = self._ask(GetExtendedVersion(), "GET_EXTENDED_VERSION", GetExtendedVersionAck)
        self.info = report.device_info(self.profile, ident, version)
        return self.info

    def configure(self, channel: int, settings: ChannelSettings) -> None:
        shapes.channels(self.profile, [channel])
        new = shapes.shape(channel, settings, self.profile)
        with self._command_lock:
            old = self._shapes.get(channel)
            amplitude = self._running.get(channel)
            if amplitude is None:
                self._shapes[channel] = new
                return
            old_kind = (old.settings.waveform, old.settings.mode) if old else None
            if amplitude > 0 and old_kind != (settings.waveform, settings.mode):
                raise CommandRefused(
                    f"CONFIGURE on channel {channel}", "NOT_AT_ZERO", "set 0 mA first"
                )
            shapes.check_amplitude(channel, amplitude, new, self.profile)
            self._update({**self._running}, f"CONFIGURE on channel {channel}", {channel: new})
            self._shapes[channel] = new

    def set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        shapes.channels(self.profile, [channel])
        if not math.isfinite(amplitude_ma) or amplitude_ma < 0:
            raise InputError([Problem(f"{amplitude_ma!r} is not an amplitude", "<api>")])
        wanted = shapes.quantize_ma(amplitude_ma)
        what = f"{amplitude_ma:g} mA on channel {channel}"
        with self._command_lock:
            now = self._running.get(channel)
            if now is None or wanted <= now:  # decreases are never refused
                if now is None and wanted > 0:
                    code = "FAULT_LATCHED" if self._latched.get(channel) else "NOT_STARTED"
                    raise CommandRefused(what, code, "the channel is not running")
                if now is not None and now != wanted:
                    self._update(
                        {**self._running, channel: self._shapes[channel].balanced_down(wanted)},
                        what,
                    )
                return
            if self._latched.get(channel):
                raise CommandRefused(what, "FAULT_LATCHED", "reset the fault first")
            shapes.check_amplitude(channel, wanted, self._shapes[channel], self.profile)
            try:
                self._shapes[channel].points(wanted)
            except ValueError as exc:
                raise CommandRefused(what, "UNSUPPORTED", str(exc)) from None
            self._update({**self._running, channel: wanted}, what)

    def start(self, channels: Iterable[int]) -> None:
        chosen = shapes.channels(self.profile, channels)
        what = f"START of channels {chosen}"
        with self._command_lock:
            for ch in chosen:
                if ch not in self._shapes:
                    raise CommandRefused(what, "NOT_CONFIGURED", f"channel {ch} is not configured")
                if self._latched.get(ch):
                    raise CommandRefused(
                        what, "FAULT_LATCHED", f"channel {ch}: reset the fault first"
                    )
                if self._running.get(ch, 0.0) != 0:
                    raise CommandRefused(what, "NOT_AT_ZERO", f"channel {ch} is above 0 mA")
            if not self._initialised:
                self._send(MlInit(False), "ML_INIT", chosen)
                self._initialised = True
            self._update({**self._running, **{ch: 0.0 for ch in chosen}}, what)

    def stop(self, channels: Iterable[int]) -> None:
        chosen = shapes.channels(self.profile, channels)
        with self._command_lock:
            left = {ch: a for ch, a in self._running.items() if ch not in chosen}
            if left == self._running and not (self._initialised and not left):
                return
            if left:
                self._update(left, f"STOP of channels {chosen}")
            elif self._initialised:
                self._stop_all(f"STOP of channels {chosen}")

    def emergency_stop(self) -> None:
        with self._lock:
            for ch in range(1, self.profile.channels + 1):
                self._latched.setdefault(ch, set()).add("emergency_stop")
            self._running.clear()
        try:
            ack = self._link.request(MlStop(), "EMERGENCY_STOP", self._link.retries + 3)
        finally:
            self._initialised = False
            for ch in range(1, self.profile.channels + 1):
                self._notify(DeviceEvent("fault", ch, frozenset({"emergency_stop"})))
        checked(ack, "EMERGENCY_STOP", ok_if_idle=True)

    def heartbeat(self) -> None:
        with self._command_lock:
            if not self._initialised:
                self._ask(GetStimStatus(), "GET_STIM_STATUS", GetStimStatusAck)
                return
            reply = self._link.request(MlGetCurrentData(), "ML_GET_CURRENT_DATA")
            if isinstance(reply, MlGetCurrentDataAck) and reply.result == Result.NOT_INITIALIZED:
                self._device_lost_level()
                return
            ack = checked(reply, "ML_GET_CURRENT_DATA")
            if isinstance(ack, MlGetCurrentDataAck):
                self._observe(ack)

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        with self._lock:
            return dict(self._telemetry)

    def events(self) -> list[DeviceEvent]:
        with self._lock:
            out = list(self._events)
            self._events.clear()
            return out

    def update_count(self) -> int:
        return self._updates

    def subscribe(self, callback: EventCallback) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def measure_impedance(self, channel: int) -> float:
        shapes.channels(self.profile, [channel])
        return math.nan  # the P24 measures no impedance at mid level (it reports electrode errors)

    def reset_fault(self, channels: Iterable[int]) -> None:
        chosen = shapes.channels(self.profile, channels)
        for ch in chosen:
            with self._lock:
                had = self._latched.pop(ch, set())
            if had:
                self._notify(DeviceEvent("fault_reset", ch))

    def close(self) -> None:
        if self._link.closed:
            return
        if self._initialised:
            try:
                with self._command_lock:
                    self._stop_all("ML_STOP on close")
            except DriverError:
                pass  # the device stops on its own 2 s after the last keep-alive
        self._link.close()

    # ---- inside ------------------------------------------------------------------------

    def _still_wanted(self, channels: Iterable[int]) -> bool:
        with self._lock:
            return not any("emergency_stop" in self._latched.get(ch, ()) for ch in channels)

    def _send(self, message: Message, what: str, channels: Iterable[int] = ()) -> Message:
        chosen = list(channels)
        wanted = (lambda: self._still_wanted(chosen)) if chosen else None
        return checked(self._link.request(message, what, still_wanted=wanted), what)

    def _ask(self, message: Message, what: str, kind: type[M]) -> M:
        reply = self._send(message, what)
        if not isinstance(reply, kind):
            raise CommandRefused(what, "PROTOCOL_ERROR", f"unexpected reply {reply!r}")
        return reply

    def _update(
        self, running: dict[int, float], what: str, new: dict[int, shapes.Shape] | None = None
    ) -> None:
        chosen = {**self._shapes, **(new or {})}
        blocks = [
            chosen[n].block(running[n]) if n in running else None for n in range(1, CHANNELS + 1)
        ]
        self._send(MlUpdate(tuple(blocks)), what, running)
        with self._lock:
            self._running = dict(running)

    def _stop_all(self, what: str) -> None:
        reply = self._link.request(MlStop(), what)
        with self._lock:
            self._running.clear()
            self._initialised = False
        checked(reply, what, ok_if_idle=True)

    def _observe(self, ack: MlGetCurrentDataAck) -> None:
        now = time.monotonic() - self._t0
        with self._lock:
            telemetry, events = report.observe(
                ack, now, self._running, self._latched, self._counters, self._shapes
            )
            self._telemetry.update(telemetry)
            self._updates += 1
        for event in events:
            self._notify(event)

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

    def _lost(self, tries: int) -> None:
        self._notify(DeviceEvent("link_lost", None, detail=tries))

    def _notify(self, event: DeviceEvent) -> None:
        with self._lock:
            self._events.append(event)
            self._updates += 1
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(event)
