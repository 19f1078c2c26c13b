"""The driver for the Hasomed RehaStim2 over ScienceMode2, channel list mode.

The driver interface maps onto the device's few commands:

- configure: kept per channel; refused (``UNSUPPORTED``) if channel list mode cannot produce
  it (see :mod:`~tensctl.drivers.sciencemode2.plan`). A running channel's new width goes
  out as a list update; a new frequency needs a new list (stop, init, start at the same
  currents).
- start: InitChannelListMode with the active channels, then StartChannelListMode with the
  new channels at 0 mA (a running list is stopped first: the device initialises only from
  its start mode). set_amplitude: a StartChannelListMode update with every listed
  channel's current, in whole mA rounded down.
- stop: StopChannelListMode when no channel remains; otherwise an update with the stopped
  channels at 0 mA (they keep their slot until the list is next rebuilt).
- emergency_stop: StopChannelListMode at once (not behind other commands); every channel
  latches ``emergency_stop`` until reset_fault. A StimulationError from the device latches
  ``electrode``/``module``/``emergency_switch`` on every channel (the device stopped all);
  a new Init from the device mid-session (it restarted) is a ``boot`` event and latches
  ``reboot``.
- measure_impedance: NaN — the device has no such command; it tests the skin resistance
  before every pulse itself and reports an electrode error.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable

from tensctl.drivers.base import (
    ChannelSettings,
    ChannelTelemetry,
    DeviceEvent,
    DeviceInfo,
    Driver,
    EventCallback,
)
from tensctl.drivers.sciencemode2 import plan
from tensctl.drivers.sciencemode2.link import Link, Port
from tensctl.drivers.sciencemode2.listing import ChannelList, refused
from tensctl.drivers.sciencemode2.state import ChannelState
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode2 import StopChannelListMode, Watchdog

RESPONSE_S = 0.15  # the device answers within 100 ms (section 2.3); USB adds a little
CONNECT_S = 4.0  # Init every 500 ms, after a previous host's session has timed out (≤ 3 s)
EPSILON_MA = 1e-9  # float noise only: 9.9999999999 mA is 10 mA, 9.99 mA is 9 mA
ERRORS = {-1: "emergency_switch", -2: "electrode", -3: "module"}


class ScienceMode2Driver(Driver):
    def __init__(
        self,
        port: Port,
        url: str,
        profile: DeviceProfile,
        timeout_s: float = RESPONSE_S,
        retries: int = 2,
        connect_s: float = CONNECT_S,
    ) -> None:
        self.url, self.profile, self.retries = url, profile, retries
        self._op = threading.RLock()  # one operation at a time (emergency stop excepted)
        self._channels = {n: ChannelState(n) for n in range(1, profile.channels + 1)}
        self._events: deque[DeviceEvent] = deque(maxlen=10_000)
        self._callbacks: list[EventCallback] = []
        self._closed = False
        self._link = Link(
            port,
            url,
            max(timeout_s, RESPONSE_S),
            retries,
            self._device_reset,
            self._device_error,
            self._link_lost,
        )
        self._list = ChannelList(self._link, self._channels)
        try:
            self._link.connect(connect_s)
            self._list.stop("StopChannelListMode (connect)")
        except Exception:
            self._link.close()
            raise

    # ---- identity and settings ---------------------------------------------------------

    def identify(self) -> DeviceInfo:
        """The device has no identification command: the profile's limits."""
        p = self.profile
        return DeviceInfo(
            model=p.model,
            firmware="ScienceMode2",
            serial="",
            channels=p.channels,
            max_amplitude_ma=p.amplitude.max_ma,
            pulse_width_us=(p.pulse_width_us.min, p.pulse_width_us.max),
            frequency_hz=(p.frequency_hz.min, p.frequency_hz.max),
            max_charge_per_phase_uc=p.max_charge_per_phase_uc,
            compliance_voltage_v=p.compliance_voltage_v,
            watchdog_ms=p.watchdog_ms,
            slew_step_ma=p.slew.max_step_ma,
            slew_rate_ma_per_s=p.slew.max_rate_ma_per_s,
        )

    def configure(self, channel: int, settings: ChannelSettings) -> None:
        what = f"configure of channel {channel}"
        with self._op:
            ch = self._channel(channel, what)
            if ch.faults:
                raise refused(what, "FAULT_LATCHED", "a fault is latched; reset it first")
            try:
                width = plan.width_us(settings)
            except plan.Inexpressible as exc:
                raise refused(what, "UNSUPPORTED", str(exc)) from None
            old = (ch.settings, ch.width_us)
            ch.settings, ch.width_us = settings, width
            if not ch.active:
                return
            try:
                self._list.program(what)
            except BaseException:
                ch.settings, ch.width_us = old
                raise

    # ---- output ------------------------------------------------------------------------

    def start(self, channels: Iterable[int]) -> None:
        chosen = sorted(set(channels))
        what = f"start of channels {chosen}"
        with self._op:
            for n in chosen:
                ch = self._channel(n, what)
                if ch.faults:
                    raise refused(what, "FAULT_LATCHED", f"channel {n}: a fault is latched")
                if ch.settings is None:
                    raise refused(what, "NOT_CONFIGURED", f"channel {n} is not configured")
            new = [self._channels[n] for n in chosen if not self._channels[n].active]
            with self._list.lock:
                for ch in new:
                    ch.account(self._list.now())
                    ch.active, ch.current_ma = True, 0
            try:
                self._list.program(what)
            except BaseException:
                with self._list.lock:
                    for ch in new:
                        ch.off(self._list.now())
                raise

    def set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        what = f"{amplitude_ma:g} mA on channel {channel}"
        if not math.isfinite(amplitude_ma) or amplitude_ma < 0:
            raise refused(what, "OUT_OF_RANGE", "not a current")
        current = math.floor(amplitude_ma + EPSILON_MA)  # whole mA, never rounded up
        with self._op:
            ch = self._channel(channel, what)
            if current > self.profile.amplitude.max_ma:
                raise refused(what, "OUT_OF_RANGE", "above the device's maximum")
            if not ch.active:
                if current == 0:
                    return  # already at 0
                code = "FAULT_LATCHED" if ch.faults else "NOT_STARTED"
                raise refused(what, code, f"channel {channel} is not started")
            if current == ch.current_ma:
                return
            previous = ch.current_ma
            with self._list.lock:
                ch.account(self._list.now())
                ch.current_ma = current
            try:
                self._list.update(what, guarded=current > previous)  # decreases always go
            except BaseException:
                with self._list.lock:
                    ch.account(self._list.now())
                    ch.current_ma = min(previous, current)  # unknown: assume the lower
                raise

    def stop(self, channels: Iterable[int]) -> None:
        chosen = sorted(set(channels))
        what = f"stop of channels {chosen}"
        with self._op:
            with self._list.lock:
                for n in chosen:
                    self._channel(n, what).off(self._list.now())
            if not any(ch.active for ch in self._channels.values()):
                self._list.stop("StopChannelListMode")
            elif self._list.listed:
                self._list.update(what, guarded=False)

    def emergency_stop(self) -> None:
        self._stopped_by_device("emergency_stop")  # before the write: overtakes any operation
        try:
            self._link.request(
                StopChannelListMode, "emergency StopChannelListMode", self.retries + 3
            )
        finally:
            self._notify(DeviceEvent("fault", None, frozenset({"emergency_stop"})))

    def heartbeat(self) -> None:
        self._link.send(Watchdog)

    # ---- reports -----------------------------------------------------------------------

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        with self._list.lock:
            now = self._list.now()
            return {n: ch.telemetry(now) for n, ch in self._channels.items()}

    def events(self) -> list[DeviceEvent]:
        with self._list.lock:
            out = list(self._events)
            self._events.clear()
            return out

    def subscribe(self, callback: EventCallback) -> None:
        with self._list.lock:
            self._callbacks.append(callback)

    def measure_impedance(self, channel: int) -> float:
        self._channel(channel, f"impedance of channel {channel}")
        return math.nan  # not measurable: the device checks the skin before every pulse

    def reset_fault(self, channels: Iterable[int]) -> None:
        chosen = sorted(set(channels))
        with self._op, self._list.lock:
            for n in chosen:
                self._channel(n, f"fault reset of {chosen}").faults = frozenset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._link.error is None:
                self._list.stop("StopChannelListMode (close)")
        except Exception:
            pass  # closing anyway: the device's own watchdog stops it within 1.2 s
        finally:
            self._link.close()

    # ---- helpers -----------------------------------------------------------------------

    def _channel(self, number: int, what: str) -> ChannelState:
        if number not in self._channels:
            raise refused(what, "BAD_CHANNEL", f"no channel {number} (1–{len(self._channels)})")
        return self._channels[number]

    # ---- from the reader thread (and the emergency stop) ------------------------------

    def _stopped_by_device(self, fault: str) -> None:
        """The device stopped everything: every channel off, ``fault`` latched on all."""
        with self._list.lock:
            self._list.generation += 1
            now = self._list.now()
            for ch in self._channels.values():
                ch.off(now)
                ch.faults |= {fault}
            self._list.forget()

    def _device_error(self, error: int) -> None:
        fault = ERRORS.get(error, "module")
        self._stopped_by_device(fault)
        self._notify(DeviceEvent("fault", None, frozenset({fault}), detail=error))

    def _device_reset(self) -> None:
        self._stopped_by_device("reboot")
        self._notify(DeviceEvent("boot", None, frozenset({"reboot"})))

    def _link_lost(self, reason: str) -> None:
        self._notify(DeviceEvent("link_lost", None))

    def _notify(self, event: DeviceEvent) -> None:
        with self._list.lock:
            self._events.append(event)
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(event)
