"""The driver for the Hasomed P24 over ScienceMode4, mid level (P24 IFU pp. 16-26).

- identify: Get_stim_status (a mid level left running by an earlier host is stopped), then
  Get_device_id and Get_extended_version; the limits are the profile's.
- configure stores a channel's pulse shape (see :mod:`.shapes`); on a running channel it is
  sent at once. start: Ml_init once, then Ml_update with the channel at 0 mA. set_amplitude:
  Ml_update with every running channel (a channel missing from an Ml_update stops; one in
  it is enabled again, and the device clears its error). stop: Ml_update without the
  channel, or Ml_stop when none is left.
- Device errors: Ml_get_current_data is the device's only live data (:mod:`.report`). An
  update that raises or keeps output (an increase, a start, a configure of a running
  channel) first asks for it if the last report is older than 200 ms; a decrease or a stop
  never waits for it. A channel the device reports stopped or in error is latched as a
  fault (event and telemetry), left out of every later update and refused
  (``FAULT_LATCHED``) until reset_fault; the other channels go on unchanged.
- heartbeat: Ml_get_current_data too — with Ml_update, the device's keep-alive (stimulation
  stops 2 s after the last of either). It does not hold up a stop or a decrease sent while
  it waits for the device.
- emergency_stop: Ml_stop at once (not queued behind other traffic), then a fault latched by
  the driver on every channel until reset_fault; a command in flight is not committed, nor
  written again, after it.
- measure_impedance: ``nan`` — the P24 measures no impedance at mid level.
"""

from __future__ import annotations

import contextlib
import math

from tensctl.drivers.base import ChannelSettings, ChannelTelemetry, DeviceEvent, DeviceInfo
from tensctl.drivers.errors import CommandRefused, DriverError, LinkLost
from tensctl.drivers.sciencemode4 import report, shapes
from tensctl.drivers.sciencemode4.core import OVERTAKEN, Core, M
from tensctl.drivers.sciencemode4.link import checked
from tensctl.wire.sciencemode4 import (
    GetDeviceId,
    GetDeviceIdAck,
    GetExtendedVersion,
    GetExtendedVersionAck,
    GetStimStatus,
    GetStimStatusAck,
    Message,
    MlInit,
    MlStop,
    StimStatus,
)
from tensctl.wire.sciencemode4.midlevel import CHANNELS


class ScienceMode4Driver(Core):
    # ---- the interface -----------------------------------------------------------------

    def identify(self) -> DeviceInfo:
        with self._command_lock:
            status = self._ask(GetStimStatus(), "GET_STIM_STATUS", GetStimStatusAck)
            if status.status in (StimStatus.MID_LEVEL_INITIALIZED, StimStatus.MID_LEVEL_RUNNING):
                self._stop_all("ML_STOP (left running by an earlier host)")
            self._initialised = False
            ident = self._ask(GetDeviceId(), "GET_DEVICE_ID", GetDeviceIdAck)
            version = self._ask(GetExtendedVersion(), "GET_EXTENDED_VERSION", GetExtendedVersionAck)
        self.info = report.device_info(self.profile, ident, version)
        return self.info

    def _channel_count(self) -> int:
        return min(self.profile.channels, CHANNELS)

    def _configure(self, channel: int, settings: ChannelSettings) -> None:
        new = shapes.shape(channel, settings, self.profile)
        what = f"CONFIGURE on channel {channel}"
        if channel in self._running:
            self._poll_if_stale(locked=False)  # sent again: the device's word first
        with self._command_lock:
            if channel in self._running:
                self._poll_if_stale(locked=True)
            old = self._shapes.get(channel)
            amplitude = self._running.get(channel)
            if amplitude is None:
                self._shapes[channel] = new
                return
            old_kind = (old.settings.waveform, old.settings.mode) if old else None
            if amplitude > 0 and old_kind != (settings.waveform, settings.mode):
                raise CommandRefused(what, "NOT_AT_ZERO", "set 0 mA first")
            shapes.check_amplitude(channel, amplitude, new, self.profile)
            self._update(what, {}, {channel: new})
            self._shapes[channel] = new

    def _set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        wanted = shapes.quantize_ma(amplitude_ma)
        what = f"{amplitude_ma:g} mA on channel {channel}"
        if wanted > self._running.get(channel, math.inf):
            self._poll_if_stale(locked=False)  # so that a decrease need not wait for it
        with self._command_lock:
            now = self._running.get(channel)
            if now is None:
                if wanted > 0:
                    code = "FAULT_LATCHED" if self._latched.get(channel) else "NOT_STARTED"
                    raise CommandRefused(what, code, "the channel is not running")
                return
            if wanted < now:  # never refused, never waits for a report
                self._update(what, {channel: self._shapes[channel].balanced_down(wanted)})
                return
            if wanted == now:
                return
            shapes.check_amplitude(channel, wanted, self._shapes[channel], self.profile)
            self._poll_if_stale(locked=True)
            if channel not in self._running:
                faults = ", ".join(sorted(self._latched.get(channel, ()))) or "stopped"
                raise CommandRefused(what, "FAULT_LATCHED", f"the device reports: {faults}")
            self._update(what, {channel: wanted})

    def _start(self, chosen: list[int]) -> None:
        what = f"START of channels {chosen}"
        self._poll_if_stale(locked=False)
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
            if self._initialised:
                self._poll_if_stale(locked=True)
            else:
                with self._commanding() as generation:
                    self._send(MlInit(False), "ML_INIT", generation)
                    with self._lock:
                        if self._generation != generation:
                            raise CommandRefused(what, "FAULT_LATCHED", OVERTAKEN)
                        self._initialised = True
            self._update(what, {ch: 0.0 for ch in chosen})

    def _stop(self, chosen: list[int]) -> None:
        what = f"STOP of channels {chosen}"
        with self._command_lock:
            generation = self._generation
            left = {ch: a for ch, a in self._running.items() if ch not in chosen}
            if left:
                if left != self._running:
                    try:
                        self._update(what, {ch: None for ch in chosen})
                    except CommandRefused:
                        if self._generation == generation:
                            raise  # else an emergency stop overtook it and stopped everything
            elif self._initialised:
                self._stop_all(what)
            else:
                with self._lock:
                    self._running.clear()

    def emergency_stop(self) -> None:
        with self._lock:
            self._generation += 1  # before the write: nothing in flight commits after it
            for ch in range(1, self.profile.channels + 1):
                self._latched.setdefault(ch, set()).add("emergency_stop")
            self._running.clear()
            self._initialised = False
        try:
            ack = self._link.request(MlStop(), "EMERGENCY_STOP", self._link.retries + 3)
        finally:
            for ch in range(1, self.profile.channels + 1):
                self._notify(DeviceEvent("fault", ch, frozenset({"emergency_stop"})))
        checked(ack, "EMERGENCY_STOP", ok_if_idle=True)
        self._all_stopped("fault", frozenset({"emergency_stop"}))

    def heartbeat(self) -> None:
        """Ml_get_current_data; it takes the command lock only to use its report, so a
        stop or a decrease goes out while it waits for the device."""
        if not self._initialised:
            self._ask(GetStimStatus(), "GET_STIM_STATUS", GetStimStatusAck)
            return
        self._poll(locked=False)

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        with self._lock:
            return dict(self._telemetry)

    def _measure_impedance(self, channel: int) -> float:
        return math.nan  # the P24 measures no impedance at mid level (it reports electrode errors)

    def _reset_fault(self, chosen: list[int]) -> None:
        for ch in chosen:
            with self._lock:
                had = self._latched.pop(ch, set())
            if had:
                self._notify(DeviceEvent("fault_reset", ch))

    def close(self) -> None:
        """Ml_stop whatever the driver thinks runs (one try; 7, nothing initialised, is
        fine; errors are ignored: the device stops 2 s after the last keep-alive), then
        the port is released."""
        if self._link.closed:
            return
        with self._lock:
            self._generation += 1
            self._running.clear()
            self._initialised = False
        with contextlib.suppress(DriverError, LinkLost):
            reply = self._link.request(MlStop(), "ML_STOP on close", attempts=1)
            checked(reply, "ML_STOP on close", ok_if_idle=True)
        self._link.close()

    # ---- inside ------------------------------------------------------------------------

    def _ask(self, message: Message, what: str, kind: type[M]) -> M:
        reply = self._send(message, what)
        if not isinstance(reply, kind):
            raise CommandRefused(what, "PROTOCOL_ERROR", f"unexpected reply {reply!r}")
        return reply
