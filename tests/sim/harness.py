"""A bench for driving :class:`tenssim.device.SimDevice` in virtual time, byte for byte.

Every call takes (or keeps) an explicit time in seconds: frames are encoded with
:func:`tensctl.wire.encode`, fed with ``device.receive(bytes, t)``, and whatever the device
has sent by then is decoded with :class:`~tensctl.wire.Deframer` and
:func:`~tensctl.wire.decode_message`. No sleeps, no wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from tenssim import scenario as sc
from tenssim.channel import RESET_CLEAR_S, Channel
from tenssim.device import SimDevice

from tensctl.model.device import DeviceProfile
from tensctl.model.library import find_device
from tensctl.wire import Deframer, Frame, decode_message, encode_frame
from tensctl.wire.codes import ErrorCode, EventCode, Fault, ModeCode, MsgType, WaveformCode
from tensctl.wire.messages import (
    Ack,
    AltStep,
    Configure,
    Event,
    Heartbeat,
    Identify,
    Message,
    Nack,
    SetAmplitude,
    Start,
    Telemetry,
)

PROFILE: DeviceProfile = find_device("tenssim-2ch")[0]
WATCHDOG_S = PROFILE.watchdog_ms / 1000
HEARTBEAT_S = 0.1
STEP_UA = 1000  # the profile's largest single increase
STEP_EVERY_S = 0.25  # 4 steps per second: the profile's slew rate exactly
_EVENT: TypeAdapter[sc.ScenarioEvent] = TypeAdapter(sc.ScenarioEvent)


def configure(
    channel: int = 1,
    hz: float = 100,
    pw: int = 200,
    *,
    waveform: int = WaveformCode.SYMMETRIC_BIPHASIC,
    mode: int = ModeCode.CONTINUOUS,
    secondary: tuple[int, int] = (1000, 1000),
    pulses_per_train: int = 1,
    train_hz: float = 0,
    steps: tuple[tuple[float, int, int], ...] = (),
) -> Configure:
    """A CONFIGURE in everyday units (Hz, µs); ``steps`` are (Hz, µs, dwell ms)."""
    return Configure(
        channel,
        waveform,
        mode,
        round(hz * 1000),
        pw,
        secondary[0],
        secondary[1],
        pulses_per_train,
        round(train_hz * 1000),
        tuple(AltStep(round(f * 1000), w, d) for f, w, d in steps),
    )


def scenario(*events: dict[str, Any], clock: str = "boot", **extra: Any) -> sc.Scenario:
    """A scenario built in code (``clock: boot``: ``at_s`` counts from power-up)."""
    return sc.Scenario.model_validate(
        {"format_version": 1, "id": "test", "clock": clock, "events": list(events), **extra}
    )


@dataclass
class Received:
    t: float
    message: Message


@dataclass
class Bench:
    """One simulated device, a host-side sequence counter and everything received."""

    scenario: sc.Scenario | None = None
    seed: int = 0
    profile: DeviceProfile = PROFILE
    t: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    bad_replies: int = 0
    seq: int = 0
    reset_clear_s: float = RESET_CLEAR_S
    speed: float = 1.0
    session: int = 0
    """The host session the device chose at the last IDENTIFY (0 before any)."""

    def __post_init__(self) -> None:
        self.device = SimDevice(
            self.profile,
            self.t,
            scenario=self.scenario,
            seed=self.seed,
            log=self.log.append,
            reset_clear_s=self.reset_clear_s,
            speed=self.speed,
        )
        self._deframer = Deframer()
        self.collect()

    # ---- time and bytes ------------------------------------------------------------------

    def at(self, t: float) -> Bench:
        """Move the clock to ``t`` (never backwards) and let the device run up to it."""
        assert t >= self.t, f"time goes forward: {t} < {self.t}"
        self.t = t
        self.device.advance(t)
        self.collect()
        return self

    def wait(self, seconds: float) -> Bench:
        return self.at(self.t + seconds)

    def collect(self) -> list[Message]:
        """Decode what the device has sent by now (kept in :attr:`received` too)."""
        new: list[Message] = []
        for item in self._deframer.feed(self.device.take_output(self.t)):
            if not isinstance(item, Frame):
                self.bad_replies += 1
                continue
            message = decode_message(item)
            assert isinstance(message, Message), message
            if isinstance(message, Ack) and message.req_type == MsgType.IDENTIFY:
                self.session = item.session
            new.append(message)
            self.received.append(Received(self.t, message))
        return new

    def send_bytes(self, data: bytes, t: float | None = None) -> list[Message]:
        if t is not None:
            assert t >= self.t, f"time goes forward: {t} < {self.t}"
            self.t = t
        self.device.receive(data, self.t)
        return self.collect()

    def inject(self, kind: str, t: float | None = None, **fields: Any) -> Bench:
        """Apply a scenario event now (run-time fault injection), as ``tensctl sim`` does."""
        if t is not None:
            self.at(t)
        event = _EVENT.validate_python({"kind": kind, "at_s": 0, **fields})
        self.device.inject(event, self.t)
        self.collect()
        return self

    def frame(self, message: Message, seq: int | None = None, session: int | None = None) -> bytes:
        """Encode ``message`` with the next sequence number (or ``seq`` as given), in the
        current host session (or ``session``)."""
        return self.raw(message.TYPE, message.body(), seq, session)

    def raw(
        self, msg_type: int, body: bytes, seq: int | None = None, session: int | None = None
    ) -> bytes:
        """A well-formed frame of any type and body (for malformed bodies, unknown types)."""
        if seq is None:
            self.seq = (self.seq + 1) & 0xFFFF
            seq = self.seq
        return encode_frame(
            Frame(seq, msg_type, body, self.session if session is None else session)
        )

    # ---- requests ------------------------------------------------------------------------

    def request(
        self,
        message: Message,
        t: float | None = None,
        seq: int | None = None,
        session: int | None = None,
    ) -> Ack | Nack | None:
        """Send one request at ``t`` (default: now); its ACK/NACK, or None if none came."""
        data = self.frame(message, seq, session)
        sent_seq = self.seq if seq is None else seq
        return self.reply_to(sent_seq, message.TYPE, self.send_bytes(data, t))

    @staticmethod
    def reply_to(seq: int, msg_type: int, messages: list[Message]) -> Ack | Nack | None:
        for m in messages:
            if isinstance(m, Ack | Nack) and (m.req_seq, m.req_type) == (seq, msg_type):
                return m
        return None

    def ok(self, message: Message, t: float | None = None) -> Ack:
        reply = self.request(message, t)
        assert isinstance(reply, Ack), f"{message} at {self.t}: {reply}"
        return reply

    def refused(self, message: Message, t: float | None = None) -> ErrorCode | None:
        """The NACK's error code (asserting the reply was a NACK)."""
        reply = self.request(message, t)
        assert isinstance(reply, Nack), f"{message} at {self.t}: {reply}"
        return reply.error_code

    # ---- sessions ------------------------------------------------------------------------

    def heartbeats(self, until: float, every: float = HEARTBEAT_S) -> Bench:
        """A HEARTBEAT every ``every`` seconds from now up to ``until`` (times computed from
        the start, so no rounding drift), each ACKed."""
        t0, i = self.t, 1
        while (t := t0 + i * every) <= until + 1e-9:
            self.ok(Heartbeat(), t)
            i += 1
        return self.at(max(self.t, until))

    def ramp(self, channel: int, target_ua: int) -> Bench:
        """1 mA steps every 250 ms (the slew limit exactly), heartbeats in between."""
        amp = self.ch(channel).amplitude_ua
        while amp < target_ua:
            amp = min(target_ua, amp + STEP_UA)
            self.ok(SetAmplitude(channel, amp))
            if amp < target_ua:
                self.heartbeats(self.t + STEP_EVERY_S)
        return self

    def running(self, channel: int = 1, amplitude_ua: int = 1000, **config: Any) -> Bench:
        """IDENTIFY, CONFIGURE, START and ramp ``channel`` to ``amplitude_ua``."""
        self.ok(Identify())
        self.ok(configure(channel, **config))
        self.ok(Start(1 << (channel - 1)))
        return self.ramp(channel, amplitude_ua)

    # ---- looking inside ------------------------------------------------------------------

    def ch(self, number: int) -> Channel:
        return self.device.firmware.channel(number)

    def status(self, number: int) -> dict[str, Any]:
        return self.device.status(self.t)[number - 1]

    def faults(self, number: int) -> Fault:
        return Fault(self.status(number)["faults"])

    def amplitude(self, number: int) -> int:
        return int(self.status(number)["amplitude_ua"])

    def entries(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e
            for e in self.log
            if e["event"] == event and all(e.get(k) == v for k, v in match.items())
        ]

    def events(self, code: EventCode | None = None) -> list[Event]:
        return [
            r.message
            for r in self.received
            if isinstance(r.message, Event) and (code is None or r.message.code == code)
        ]

    def telemetry(self, channel: int) -> list[Telemetry]:
        return [
            r.message
            for r in self.received
            if isinstance(r.message, Telemetry) and r.message.channel == channel
        ]
