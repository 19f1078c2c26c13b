"""The simulated stimulator's firmware: commands in, replies and telemetry out, interlocks.

Time is passed in (``now_s``, seconds on any monotonic clock), so the same firmware runs in
virtual time in-process and in real time behind a pty or TCP socket. Nothing here does I/O;
:class:`~tenssim.device.SimDevice` frames bytes and drives the clock.

Interlocks, all on the device's own authority: the profile's limits, slew limit on
increases, zero start (also when a new host session IDENTIFYs), the r.m.s. current, peak and
charge of both phases and the pulse rate computed from the device's own configuration
(:mod:`tenssim.limits`), no re-configuration while on that raises the r.m.s. current
(except host-driven modulation, see ``Limits.check_reconfigure``), a host session chosen at
each IDENTIFY that keeps an old session's frames out of a new one, sequence checks within a
session, a deadman watchdog,
open-circuit / short / compliance / peel / over-current trips, and latched faults that
reset only after their cause has been gone 3 s and the host asks.
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, TypeAlias

from tensctl.model.device import DeviceProfile
from tensctl.wire.codes import ErrorCode, EventCode, Fault, MsgType, OutputState
from tensctl.wire.frame import Frame
from tensctl.wire.messages import (
    Ack,
    Configure,
    EmergencyStop,
    Event,
    Heartbeat,
    Identify,
    MeasureImpedance,
    Message,
    Nack,
    ResetFault,
    SetAmplitude,
    Start,
    Stop,
    Telemetry,
)
from tensctl.wire.replies import OPEN_CIRCUIT_OHM, Identity, Impedance, MessageError, decode_message
from tensctl.wire.simulator import simulator_serial
from tenssim import monitor
from tenssim.channel import DEVICE_FAULTS, RESET_CLEAR_S, Channel
from tenssim.limits import Limits, rms_rise_ua

LogSink = Callable[[dict[str, Any]], None]
TELEMETRY_INTERVAL_S = 0.1
LINK_BAD_FRAMES, LINK_WINDOW_S = 5, 1.0
FIRMWARE_VERSION = "tenssim 0.1"
DEFAULT_SERIAL = "SIM-0001"
"""Every serial the simulator reports begins with ``SIM-`` (:mod:`tensctl.wire.simulator`):
that is how the host knows a simulator, on every transport and personality."""
Result: TypeAlias = bytes | ErrorCode
"""What a request comes to: the ACK payload, or the NACK error code."""


NO_SESSION = 0
"""The session of a device no host has IDENTIFIED since power-up: frames carrying 0 are
taken until the first IDENTIFY, never after."""


def _ahead(seq: int, than: int) -> int:
    """How far ``seq`` is ahead of ``than``, modulo 65536 (0x8000 and up: behind)."""
    return (seq - than) % 0x10000


def new_session(old: int) -> int:
    """A session number for the next host: random (a device's hardware RNG), 32 bits, never
    0 and never the one it replaces, so no frame of an earlier session matches it."""
    while True:
        session = secrets.randbits(32)
        if session not in (NO_SESSION, old):
            return session


def _no_log(entry: dict[str, Any]) -> None:
    pass


def _name(msg_type: int) -> str:
    known = MsgType._value2member_map_.get(msg_type)
    return known.name if isinstance(known, MsgType) else hex(msg_type)


class Firmware:
    def __init__(
        self,
        profile: DeviceProfile,
        now_s: float,
        serial: str = DEFAULT_SERIAL,
        log: LogSink = _no_log,
        telemetry_interval_s: float = TELEMETRY_INTERVAL_S,
        reset_clear_s: float = RESET_CLEAR_S,
        speed: float = 1.0,
    ) -> None:
        self.telemetry_interval_s = telemetry_interval_s
        self.reset_clear_s = reset_clear_s  # how long a cause must be gone before a reset
        self.logging = log is not _no_log
        self.profile, self.limits, self.serial, self.log = (
            profile,
            Limits.from_profile(profile),
            simulator_serial(serial),
            log,
        )
        self.channels = [Channel(n) for n in range(1, self.limits.channels + 1)]
        self.speed = speed
        self.battery_low = False
        self.pushed: list[Message] = []
        """Events a request raised, sent after its reply."""
        self._snapshot: list[tuple[bool, int]] | None = None
        self.boot(now_s, reboot=False)  # sets greeting: the BOOT event sent at power-up

    @property
    def watchdog_period_s(self) -> float:
        """The watchdog catches a silent host, and a host is as slow at every speed: on a
        clock running ``speed`` times real time (``--speed``) it waits as long in real time."""
        return self.limits.watchdog_s * self.speed

    # ---- lifecycle ---------------------------------------------------------------------

    def boot(self, now_s: float, reboot: bool = True) -> list[Message]:
        """Power-up: every output at 0, nothing configured; loads and injected faults stay."""
        self.boot_s = self.last_tick_s = self.last_valid_s = self.last_telemetry_s = now_s
        self.last_seq: int | None = None
        self.session = NO_SESSION  # power-up ends every host session: its frames are stale
        self.identified_by: tuple[int, int] | None = None  # (session field, seq) of IDENTIFY
        self.bad_frames: deque[float] = deque()
        for ch in self.channels:
            ch.zero()
            ch.config, ch.faults, ch.baseline_ohm = None, Fault.NONE, None
            ch.pulses = ch.delivered_charge_pc = ch.net_charge_pc = 0.0
            if reboot:
                ch.faults = Fault.REBOOT
                ch.cause_seen_s = now_s
        self._record(now_s, "reboot" if reboot else "boot")
        flags = Fault.REBOOT if reboot else Fault.NONE
        self.greeting: list[Message] = [Event(self.ms(now_s), 0xFF, EventCode.BOOT, flags)]
        return self.greeting

    def power_off(self, now_s: float) -> None:
        """Power lost: every output stops at once (logged; nothing can be sent)."""
        before = self.outputs()
        for ch in self.channels:
            ch.zero()
        self.log_changes(before, now_s, cause="power_loss")

    def ms(self, now_s: float) -> int:
        return int((now_s - self.boot_s) * 1000) & 0xFFFFFFFF

    def channel(self, number: int) -> Channel:
        return self.channels[number - 1]

    # ---- commands ----------------------------------------------------------------------

    def handle(self, frame: Frame, now_s: float) -> list[Message]:
        """One valid frame from the host → its reply (and any telemetry it causes)."""
        out = self.tick(now_s)
        before = self._snapshot = self.outputs()  # trips during dispatch log against it
        message = decode_message(frame)
        outcome: Result
        if isinstance(message, MessageError):
            unknown = message.detail == "unknown message type"
            outcome = ErrorCode.UNKNOWN_TYPE if unknown else ErrorCode.BAD_LENGTH
        elif frame.type >= MsgType.ACK:  # a device→host type is not a request: no seq, no feed
            outcome = ErrorCode.UNKNOWN_TYPE
        elif frame.type == MsgType.IDENTIFY and (frame.session, frame.seq) == self.identified_by:
            outcome = self.identity()  # the same frame again (a duplicate): the same session
        elif (stale := self._stale(frame)) is not None:
            # a stop always acts, but a stale one must not rewind the sequence check
            stop = frame.type == MsgType.EMERGENCY_STOP
            outcome = self.dispatch(message, now_s) if stop else stale
        else:
            if frame.type == MsgType.IDENTIFY:  # a new host session: its replies carry it
                self.session = new_session(self.session)
                self.identified_by = (frame.session, frame.seq)
            self.last_seq = frame.seq
            self.last_valid_s = now_s
            outcome = self.dispatch(message, now_s)
        code = outcome if isinstance(outcome, ErrorCode) else None
        reply: Message = (
            Nack(frame.seq, frame.type, outcome)
            if isinstance(outcome, ErrorCode)
            else Ack(frame.seq, frame.type, outcome)
        )
        if self.logging:
            self._log_command(frame, message, code, now_s)
        out.append(reply)
        out += self.pushed
        self.pushed = []
        out += self.log_changes(before, now_s, cause=_name(frame.type).lower())
        self._snapshot = None
        return out

    def _log_command(
        self, frame: Frame, message: Message | MessageError, code: ErrorCode | None, now_s: float
    ) -> None:
        fields = vars(message) if not isinstance(message, MessageError) else {}
        result = "ack" if code is None else f"nack:{code.name}"
        self.log_command(now_s, _name(frame.type), fields, result, seq=frame.seq)

    def log_command(
        self, now_s: float, name: str, fields: dict[str, Any], result: str, **extra: Any
    ) -> None:
        """One command as the device saw it, in the log format every personality shares."""
        entry = {"t": now_s, "event": "command", **extra, "type": name}
        self.log({**entry, "fields": fields, "result": result})

    def _stale(self, frame: Frame) -> ErrorCode | None:
        """Why ``frame`` is not of the current host session: another session's number (an
        old host's frame, or one from before a power-up), or a seq at or behind the last
        accepted one. IDENTIFY starts a new session whatever it carries."""
        if frame.type == MsgType.IDENTIFY:
            return None
        if frame.session != self.session:
            return ErrorCode.STALE_SESSION
        if self.last_seq is None:
            return None
        ahead = _ahead(frame.seq, self.last_seq)
        return ErrorCode.STALE_SEQUENCE if ahead == 0 or ahead >= 0x8000 else None

    # ---- requests: each returns the ACK payload, or the NACK error code having changed
    # nothing (a refused command leaves the output as it was) -------------------------

    def _on_identify(self, m: Identify, now_s: float) -> Result:
        """A new host session (its number chosen by :meth:`handle`): whatever the old
        one left running goes to 0 and stops (zero start); the sequence check restarts from this
        frame."""
        for ch in self.channels:
            ch.zero()
        return self.identity()

    def _on_configure(self, m: Configure, now_s: float) -> Result:
        if not self.limits.channel_ok(m.channel):
            return ErrorCode.BAD_CHANNEL
        ch = self.channel(m.channel)
        if ch.faults:
            return ErrorCode.FAULT_LATCHED
        error = self.limits.check_configure(m, ch.amplitude_ua)
        if error:
            return error
        if ch.output_on and ch.config is not None:
            risen = ch.rms_risen_within(now_s)
            error = self.limits.check_reconfigure(ch.config, m, ch.amplitude_ua, risen)
            if error:
                return error
            rise = rms_rise_ua(ch.config, m, ch.amplitude_ua)
            if rise > 0:
                ch.rms_rises.append((now_s, rise))
        ch.config = m
        return b""

    def _on_set_amplitude(self, m: SetAmplitude, now_s: float) -> Result:
        if not self.limits.channel_ok(m.channel):
            return ErrorCode.BAD_CHANNEL
        ch = self.channel(m.channel)
        if m.amplitude_ua <= ch.amplitude_ua:  # decreases are never refused or delayed
            ch.amplitude_ua = m.amplitude_ua
            return b""
        if ch.faults & Fault.LOCKED:
            return ErrorCode.CHANNEL_LOCKED
        if ch.faults:
            return ErrorCode.FAULT_LATCHED
        if ch.config is None:
            return ErrorCode.NOT_CONFIGURED
        if not ch.running:
            return ErrorCode.NOT_STARTED
        error = self.limits.check_output(ch.config, m.amplitude_ua)  # peaks, charges, r.m.s.
        if error:
            return error
        step = m.amplitude_ua - ch.amplitude_ua
        error = self.limits.check_increase(step, ch.increase_in_window(now_s))
        if error:
            return error
        ch.increases.append((now_s, step))
        ch.amplitude_ua = m.amplitude_ua
        return b""

    def _channels_in(self, mask: int) -> list[int]:
        return [n for n in range(1, self.limits.channels + 1) if mask & (1 << (n - 1))]

    def _on_start(self, m: Start, now_s: float) -> Result:
        if not self.limits.mask_ok(m.channel_mask):
            return ErrorCode.BAD_CHANNEL
        chosen = [self.channel(n) for n in self._channels_in(m.channel_mask)]
        for ch in chosen:  # all or nothing
            if ch.faults & Fault.LOCKED:
                return ErrorCode.CHANNEL_LOCKED
            if ch.faults:
                return ErrorCode.FAULT_LATCHED
            if self.battery_low:
                return ErrorCode.LOW_BATTERY
            if ch.config is None:
                return ErrorCode.NOT_CONFIGURED
            if ch.amplitude_ua != 0:
                return ErrorCode.NOT_AT_ZERO
        for ch in chosen:
            if not ch.running:
                ch.running, ch.started_s = True, now_s
                z = self.impedance(ch, now_s)
                ch.baseline_ohm = z if z != float("inf") else None
                ch.baseline_width_us = monitor.pulse_width_us(ch, now_s)
        return b""

    def _on_stop(self, m: Stop, now_s: float) -> Result:
        if not self.limits.mask_ok(m.channel_mask):
            return ErrorCode.BAD_CHANNEL
        for n in self._channels_in(m.channel_mask):
            self.channel(n).zero()
        return b""

    def _on_emergency_stop(self, m: EmergencyStop, now_s: float) -> Result:
        self.pushed += self.trip_all(Fault.EMERGENCY_STOP, now_s)
        return b""

    def _on_heartbeat(self, m: Heartbeat, now_s: float) -> Result:
        return b""

    def _on_measure(self, m: MeasureImpedance, now_s: float) -> Result:
        if not self.limits.channel_ok(m.channel):
            return ErrorCode.BAD_CHANNEL
        return self.impedance_payload(m.channel, now_s)

    def _on_reset(self, m: ResetFault, now_s: float) -> Result:
        if not self.limits.mask_ok(m.channel_mask):
            return ErrorCode.BAD_CHANNEL
        chosen = [self.channel(n) for n in self._channels_in(m.channel_mask)]
        for ch in chosen:
            if ch.faults & Fault.LOCKED:
                return ErrorCode.CHANNEL_LOCKED
            if ch.faults and not self.reset_ready(ch, now_s):
                return ErrorCode.RESET_TOO_EARLY
        for ch in chosen:
            if ch.faults:
                ch.zero()
                ch.faults = Fault.NONE
                self.log({"t": now_s, "event": "fault_reset", "channel": ch.number})
                self.pushed.append(Event(self.ms(now_s), ch.number, EventCode.FAULT_RESET, 0))
        return b""

    HANDLERS: ClassVar[dict[type[Message], Callable[..., Result]]] = {
        Identify: _on_identify,
        Configure: _on_configure,
        SetAmplitude: _on_set_amplitude,
        Start: _on_start,
        Stop: _on_stop,
        EmergencyStop: _on_emergency_stop,
        Heartbeat: _on_heartbeat,
        MeasureImpedance: _on_measure,
        ResetFault: _on_reset,
    }
    """Each request type → the method that carries it out."""

    def dispatch(self, message: Message, now_s: float) -> Result:
        handler = self.HANDLERS.get(type(message))
        if handler is None:  # a device → host type sent to the device
            return ErrorCode.UNKNOWN_TYPE
        result: Result = handler(self, message, now_s)
        return result

    def bad_frame(self, now_s: float, kind: str) -> list[Message]:
        """A frame that failed COBS/CRC/version: dropped; too many in 1 s is link loss."""
        self.bad_frames.append(now_s)
        while self.bad_frames and now_s - self.bad_frames[0] > LINK_WINDOW_S:
            self.bad_frames.popleft()
        self.log({"t": now_s, "event": "bad_frame", "kind": kind})
        if len(self.bad_frames) > LINK_BAD_FRAMES:
            self.bad_frames.clear()
            return self.trip_all(Fault.LINK, now_s)
        return []

    # ---- time --------------------------------------------------------------------------

    def tick(self, now_s: float) -> list[Message]:
        """Advance to ``now_s``: account pulses, run the watchdog and the load monitor."""
        out: list[Message] = []
        t0 = self.last_tick_s
        if now_s <= t0:
            return out  # no time has passed: nothing to account or watch
        deadline = self.last_valid_s + self.watchdog_period_s
        if now_s >= deadline and any(ch.running for ch in self.channels):
            # the model's timer fires at the deadline; how late this tick noticed is logged
            self.log(
                {"t": now_s, "event": "watchdog", "deadline": deadline, "late_s": now_s - deadline}
            )
            self._account(t0, max(t0, deadline))
            out += self.trip_all(Fault.WATCHDOG, max(t0, deadline))
            t0 = max(t0, deadline)
        self._account(t0, now_s)
        self.last_tick_s = now_s
        for ch in self.channels:
            out += self._monitor(ch, now_s)
            if ch.faults and self._cause_present(ch, now_s):
                ch.cause_seen_s = now_s
        if now_s - self.last_telemetry_s >= self.telemetry_interval_s:
            self.last_telemetry_s = now_s
            out += [self.telemetry(ch, now_s) for ch in self.channels]
        return out

    def _account(self, t0: float, t1: float) -> None:
        for ch in self.channels:
            if ch.output_on and ch.config is not None:
                ch.account(t0, t1, partial(monitor.delivered_at, ch, self.limits.compliance_v, t0))

    def impedance(self, ch: Channel, now_s: float) -> float:
        return monitor.impedance(ch, now_s)

    def _delivered(self, ch: Channel, now_s: float) -> float:
        return monitor.delivered_ua(ch, self.limits.compliance_v, now_s)

    def measured_peak_ua(self, ch: Channel, now_s: float) -> float:
        return monitor.measured_peak_ua(ch, self.limits.compliance_v, now_s)

    def _monitor(self, ch: Channel, now_s: float) -> list[Message]:
        flag = monitor.load_fault(ch, self.limits.compliance_v, now_s)
        return self.trip(ch, flag, now_s) if flag else []

    def _cause_present(self, ch: Channel, now_s: float) -> bool:
        return monitor.cause_present(ch, self.battery_low, now_s)

    # ---- faults ------------------------------------------------------------------------

    def trip(self, ch: Channel, flag: Fault, now_s: float) -> list[Message]:
        before = self._snapshot if self._snapshot is not None else self.outputs()
        ch.trip(flag, now_s, counts=not flag & DEVICE_FAULTS)
        self.log({"t": now_s, "event": "fault", "channel": ch.number, "fault": flag.name})
        event = Event(self.ms(now_s), ch.number, EventCode.FAULT, ch.faults)
        return [event, *self.log_changes(before, now_s, cause=str(flag.name).lower())]

    def trip_all(self, flag: Fault, now_s: float) -> list[Message]:
        out: list[Message] = []
        for ch in self.channels:
            out += self.trip(ch, flag, now_s)
        return out

    def set_battery(self, low: bool, now_s: float) -> list[Message]:
        """Low battery: running outputs go to 0 and latch; nothing starts until it is good."""
        self.battery_low = low
        out: list[Message] = []
        for ch in self.channels:
            if low and ch.running:
                out += self.trip(ch, Fault.LOW_BATTERY, now_s)
        if low:
            out.append(Event(self.ms(now_s), 0xFF, EventCode.LOW_BATTERY, Fault.LOW_BATTERY))
        return out

    def reset_ready(self, ch: Channel, now_s: float) -> bool:
        if self._cause_present(ch, now_s):
            ch.cause_seen_s = now_s
        return now_s - ch.cause_seen_s >= self.reset_clear_s

    # ---- replies -----------------------------------------------------------------------

    def identity(self) -> bytes:
        lim = self.limits
        return Identity(
            self.profile.model,
            FIRMWARE_VERSION,
            self.serial,
            lim.channels,
            lim.max_amplitude_ua,
            lim.pulse_width_min_us,
            lim.pulse_width_max_us,
            lim.frequency_min_mhz,
            lim.frequency_max_mhz,
            lim.max_charge_pc // 1000,
            round(lim.compliance_v),
            round(lim.watchdog_s * 1000),
            lim.slew_step_ua,
            lim.slew_rate_ua_per_s,
        ).pack()

    def impedance_payload(self, number: int, now_s: float) -> bytes:
        z = self.impedance(self.channel(number), now_s)
        ohm = OPEN_CIRCUIT_OHM if math.isinf(z) else min(round(z), OPEN_CIRCUIT_OHM - 1)
        return Impedance(number, ohm).pack()

    def telemetry(self, ch: Channel, now_s: float) -> Telemetry:
        seg = ch.segment(now_s)
        z = self.impedance(ch, now_s)
        state = (
            OutputState.FAULT if ch.faults else OutputState.ON if ch.running else OutputState.OFF
        )
        return Telemetry(
            self.ms(now_s),
            ch.number,
            state,
            ch.amplitude_ua,
            round(self.measured_peak_ua(ch, now_s)) if ch.output_on else 0,
            seg.pulse_width_us if seg else 0,
            seg.frequency_mhz if seg else 0,
            OPEN_CIRCUIT_OHM if math.isinf(z) else min(round(z), OPEN_CIRCUIT_OHM - 1),
            int(ch.pulses) & 0xFFFFFFFF,
            round(ch.delivered_charge_pc / 1000),
            max(-(2**31), min(2**31 - 1, round(ch.net_charge_pc))),
            ch.faults,
        )

    def outputs(self) -> list[tuple[bool, int]]:
        return [(ch.running, ch.amplitude_ua) for ch in self.channels]

    def log_changes(
        self, before: list[tuple[bool, int]], now_s: float, cause: str
    ) -> list[Message]:
        """Log every output change since ``before`` and push telemetry for those channels;
        ``before`` is brought up to date so a change is reported once."""
        out: list[Message] = []
        for i, (ch, (running, amp)) in enumerate(zip(self.channels, before, strict=True)):
            if (ch.running, ch.amplitude_ua) != (running, amp):
                before[i] = (ch.running, ch.amplitude_ua)
                self.log(
                    {
                        "t": now_s,
                        "event": "output",
                        "channel": ch.number,
                        "running": ch.running,
                        "amplitude_ua": ch.amplitude_ua,
                        "delivered_ua": round(self._delivered(ch, now_s)),
                        "cause": cause,
                        "pulses": round(ch.pulses),
                        "charge_uc": ch.delivered_charge_pc / 1e6,
                        "net_charge_nc": ch.net_charge_pc / 1000,
                        "rms_ma": ch.rms_ua(now_s, self._delivered(ch, now_s)) / 1000,
                    }
                )
                out.append(self.telemetry(ch, now_s))
        return out

    def _record(self, now_s: float, what: str) -> None:
        self.log({"t": now_s, "event": what, "model": self.profile.model, "serial": self.serial})
