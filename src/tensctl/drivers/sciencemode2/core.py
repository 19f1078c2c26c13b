"""What the ScienceMode2 driver does besides sending output commands: the connection,
identity, reports, fault resets, closing, and what the reader thread reports (device
errors, device restarts, a lost link). The output commands are in
:mod:`~tensctl.drivers.sciencemode2.driver`."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tensctl.drivers.base import ChannelTelemetry, DeviceEvent, DeviceInfo, Driver
from tensctl.drivers.errors import DriverError
from tensctl.drivers.link import LinkSetup
from tensctl.drivers.port import Port
from tensctl.drivers.sciencemode2.link import Link
from tensctl.drivers.sciencemode2.listing import IN_CALLBACK, STOPPED, ChannelList, refused
from tensctl.drivers.sciencemode2.state import ChannelState
from tensctl.model.device import DeviceProfile
from tensctl.wire.sciencemode2 import (
    GetStimulationMode,
    SimIdentify,
    SimIdentifyAck,
    StimulationMode,
)

RESPONSE_S = 0.15  # the device answers within 100 ms (section 2.3); USB adds a little
CONNECT_S = 4.0  # Init every 500 ms, after a previous host's session has timed out (≤ 3 s)
ERRORS = {-1: "emergency_switch", -2: "electrode", -3: "module"}


class DriverCore(Driver):
    def __init__(
        self,
        port: Port,
        url: str,
        profile: DeviceProfile,
        timeout_s: float = RESPONSE_S,
        retries: int = 2,
        connect_s: float = CONNECT_S,
    ) -> None:
        super().__init__()
        self.url, self.profile, self.retries = url, profile, retries
        self._op = threading.RLock()  # one operation at a time (stops and decreases excepted)
        self._channels = {n: ChannelState(n) for n in range(1, profile.channels + 1)}
        self._closed = False
        setup = LinkSetup(port, url, max(timeout_s, RESPONSE_S), retries, self._link_lost)
        self._link = Link(setup, self._device_reset, self._device_error)
        self._list = ChannelList(self._link, self._channels)
        try:
            self._link.connect(connect_s)
            self._list.stop("StopChannelListMode (connect)")
            self._check_start_mode()
            self._serial = self._simulator_serial()
        except Exception:
            self._link.close()
            raise

    def _check_start_mode(self) -> None:
        reply = self._list.request(GetStimulationMode, "GetStimulationMode (connect)")
        mode = getattr(reply, "mode", None)
        if mode != StimulationMode.START:
            name = StimulationMode(mode).name if mode in set(StimulationMode) else repr(mode)
            raise DriverError(
                f"{self.url}: after StopChannelListMode the device reports stimulation mode "
                f"{name}, not its start mode: it does not behave as ScienceMode2 describes; "
                "not controlling it"
            )

    def _simulator_serial(self) -> str:
        """ScienceMode2 has no identification command; the tensctl simulator answers one of
        its own (``SimIdentify``) with its ``SIM-`` serial, a RehaStim2 answers it as every
        unknown command (``UnknownCommand``, nothing else happens): no serial then."""
        reply = self._link.request(SimIdentify, "SimIdentify (connect)")
        return reply.serial if isinstance(reply, SimIdentifyAck) else ""

    # ---- identity and settings ---------------------------------------------------------

    def identify(self) -> DeviceInfo:
        """The profile's limits; a serial number only from the simulator (``SIM-…``)."""
        return DeviceInfo.of_profile(self.profile, "ScienceMode2", self._serial)

    # ---- reports -----------------------------------------------------------------------

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        with self._list.lock:
            now = self._list.now()
            return {n: ch.telemetry(now) for n, ch in self._channels.items()}

    def _refresh(self) -> None:
        self._touch()  # telemetry is the commanded state, computed when asked: always new

    def _channel_count(self) -> int:
        return len(self._channels)

    def _measure_impedance(self, channel: int) -> float:
        return math.nan  # not measurable: the device checks the skin before every pulse

    def _reset_fault(self, channels: list[int]) -> None:
        chosen = sorted(set(channels))
        what = f"fault reset of {chosen}"
        with self._operation(what), self._list.lock:
            for n in chosen:
                self._channel(n, what).faults = frozenset()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._link.error is None:
                with self._list.lock:
                    self._list.overtake(STOPPED)
                self._list.stop("StopChannelListMode (close)")
        except Exception:
            pass  # closing anyway: the device's own watchdog stops it within 1.2 s
        finally:
            self._link.close()

    # ---- helpers -----------------------------------------------------------------------

    @contextmanager
    def _operation(self, what: str) -> Iterator[None]:
        """One operation at a time; never from the reader thread (it would wait for
        replies only it can read)."""
        if self._link.on_reader_thread():
            raise refused(what, *IN_CALLBACK)
        with self._op:
            yield

    def _channel(self, number: int, what: str) -> ChannelState:
        if number not in self._channels:
            raise refused(what, "BAD_CHANNEL", f"no channel {number} (1–{len(self._channels)})")
        return self._channels[number]

    # ---- from the reader thread (and the emergency stop) ------------------------------

    def _stopped_by_device(self, fault: str) -> bool:
        """The device stopped everything: every channel off, ``fault`` latched on all.
        True if ``fault`` was not latched on every channel yet."""
        with self._list.lock:
            self._list.overtake(("FAULT_LATCHED", f"overtaken by a stop ({fault})"))
            now = self._list.now()
            fresh = any(fault not in ch.faults for ch in self._channels.values())
            for ch in self._channels.values():
                ch.off(now)
                ch.faults |= {fault}
            return fresh

    def _device_error(self, error: int) -> None:
        fault = ERRORS.get(error, "module")
        self._stopped_by_device(fault)
        self._notify(DeviceEvent("fault", None, frozenset({fault}), detail=error))

    def _device_reset(self) -> None:
        self._stopped_by_device("reboot")
        self._notify(DeviceEvent("boot", None, frozenset({"reboot"})))

    def _link_lost(self, tries: int) -> None:
        self._notify(DeviceEvent("link_lost", None, detail=tries))
