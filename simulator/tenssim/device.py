"""The simulated device as a byte stream: deframing, the link, the scenario and the firmware.

A transport feeds it the host's bytes (:meth:`SimDevice.receive`), lets time pass
(:meth:`SimDevice.advance`) and collects the bytes due for the host (:meth:`take_output`).
Every method takes the current time, so the device runs the same in virtual time
(in-process) and in real time (pty, TCP).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from tensctl.model.device import DeviceProfile
from tenssim import scenario as sc
from tenssim.channel import RESET_CLEAR_S
from tenssim.firmware import DEFAULT_SERIAL, TELEMETRY_INTERVAL_S, Firmware, LogSink, _no_log
from tenssim.link import Link
from tenssim.load import Load, Peel
from tenssim.personality import BadFrame, PersonalityOptions, create


class SimDevice:
    def __init__(
        self,
        profile: DeviceProfile,
        now_s: float,
        scenario: sc.Scenario | None = None,
        seed: int = 0,
        serial: str = DEFAULT_SERIAL,
        log: LogSink = _no_log,
        telemetry_interval_s: float = TELEMETRY_INTERVAL_S,
        reset_clear_s: float = RESET_CLEAR_S,
        personality: str = "native",
        lenient_watchdog: bool = False,
        speed: float = 1.0,
    ) -> None:
        self.lock = threading.RLock()  # transports may feed and tick from different threads
        self.log = log
        self.scenario = scenario or sc.Scenario(format_version=1, id="none")
        self.link = Link(seed)
        self.firmware = Firmware(
            profile, now_s, serial, log, telemetry_interval_s, reset_clear_s, speed
        )
        for number, spec in self.scenario.loads.items():
            if number <= len(self.firmware.channels):
                self.firmware.channel(number).load = Load(**spec.model_dump())
        self.personality = create(personality, self.firmware, PersonalityOptions(lenient_watchdog))
        self._outbox: list[tuple[float, bytes]] = []
        self._pending = self.scenario.timeline()
        self._zero_s: float | None = now_s if self.scenario.clock == "boot" else None
        self._offline_until_s = -math.inf
        self._advanced_s = -math.inf
        self._send(self.personality.boot(now_s), now_s)

    # ---- the transport's side ----------------------------------------------------------

    def receive(self, data: bytes, now_s: float) -> None:
        with self.lock:
            self.advance(now_s)
            if self.link.silent(now_s) or now_s < self._offline_until_s:
                return
            for item in self.personality.feed(self.link.corrupt(data), now_s):
                if isinstance(item, BadFrame):
                    self._send(self.personality.bad_frame(item, now_s), now_s)
                    continue
                for _ in range(self.link.copies()):
                    self._send(self.personality.handle(item, now_s), now_s)
            self._note_start(now_s)

    def advance(self, now_s: float) -> None:
        with self.lock:
            if now_s == self._advanced_s:
                return  # nothing has happened since
            self._advanced_s = now_s
            self._play(now_s)
            if now_s >= self._offline_until_s:
                self._send(self.personality.tick(now_s), now_s)

    def inject(self, event: sc.ScenarioEvent, now_s: float) -> None:
        """Apply a scenario event now, whatever its ``at_s`` (run-time fault injection)."""
        with self.lock:
            self.advance(now_s)
            self._apply(event, now_s)
            self._send(self.personality.tick(now_s), now_s)

    def take_output(self, now_s: float) -> bytes:
        """The bytes that have reached the host's end of the link by ``now_s``."""
        with self.lock:
            due = [data for t, data in self._outbox if t <= now_s]
            self._outbox = [(t, data) for t, data in self._outbox if t > now_s]
            return b"".join(due)

    def next_due_s(self) -> float | None:
        with self.lock:
            return min((t for t, _ in self._outbox), default=None)

    def status(self, now_s: float) -> list[dict[str, Any]]:
        """Each channel's output as the device sees it (for tests and the log)."""
        with self.lock:
            self.advance(now_s)
            fw = self.firmware
            return [
                {
                    "channel": ch.number,
                    "running": ch.running,
                    "amplitude_ua": ch.amplitude_ua,
                    "faults": int(ch.faults),
                    "pulses": ch.pulses,
                    "delivered_charge_pc": ch.delivered_charge_pc,
                    "net_charge_pc": ch.net_charge_pc,
                    "impedance_ohm": fw.impedance(ch, now_s),
                }
                for ch in fw.channels
            ]

    # ---- inside ------------------------------------------------------------------------

    def _send(self, frames: list[bytes], now_s: float) -> None:
        for data in frames:
            if self.link.silent(now_s):
                continue
            for _ in range(self.link.copies()):
                self._outbox.append((now_s + self.link.delay_s, self.link.corrupt(data)))

    def _note_start(self, now_s: float) -> None:
        if self._zero_s is None and any(ch.running for ch in self.firmware.channels):
            self._zero_s = now_s
            self.log({"t": now_s, "event": "scenario_clock", "scenario": self.scenario.id})

    def _play(self, now_s: float) -> None:
        while self._pending and self._zero_s is not None:
            event = self._pending[0]
            at_s = self._zero_s + event.at_s
            if at_s > now_s:
                return
            self._pending.pop(0)
            # the world changes at at_s, not when we look; what that tick says is sent
            self._send(self.personality.tick(at_s), at_s)
            self._apply(event, at_s)

    def _apply(self, event: sc.ScenarioEvent, at_s: float) -> None:
        fw = self.firmware
        self.log({"t": at_s, "event": "inject", **event.model_dump()})
        channel = getattr(event, "channel", None)
        if channel is not None and channel > len(fw.channels):
            return
        load = fw.channel(channel).load if channel else None
        match event:
            case sc.ElectrodeOff():
                assert load is not None
                load.attached = False
            case sc.ElectrodeOn():
                assert load is not None
                load.reattach()
            case sc.PeelEvent(duration_s=duration, area_fraction=fraction):
                assert load is not None
                load.peel = Peel(at_s, duration, load.area_fraction(at_s), fraction)
            case sc.ImpedanceStep(series_ohm=rs, parallel_ohm=rp):
                assert load is not None
                load.set_resistance(rs, rp)
            case sc.ShortEvent():
                assert load is not None
                load.shorted = True
            case sc.OverCurrent(active=active):
                fw.channel(event.channel).over_current = active
            case sc.LinkSilence(duration_ms=ms):
                self.link.silent_until_s = at_s + ms / 1000
            case sc.LinkQuality():
                self.link.corruption_rate = event.corruption_rate
                self.link.drop_rate = event.drop_rate
                self.link.duplicate_rate = event.duplicate_rate
                self.link.delay_s = event.delay_ms / 1000
            case sc.Reboot(offline_ms=ms):
                fw.power_off(at_s)
                self._offline_until_s = at_s + ms / 1000
                # what already left the device stays readable; what it still held is lost
                self._outbox = [(t, data) for t, data in self._outbox if t <= at_s]
                fw.boot(self._offline_until_s)
                self._send(self.personality.boot(self._offline_until_s), self._offline_until_s)
            case sc.Battery(low=low):
                self._send(self.personality.pushed(fw.set_battery(low, at_s), at_s), at_s)
