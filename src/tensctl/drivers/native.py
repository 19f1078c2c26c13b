"""The driver for devices that speak the native tensctl wire protocol (``docs/wire-protocol.md``):
the simulator over any transport, and firmware built from that document.

The shared link (:mod:`tensctl.drivers.link`) reads, waits, retries and loses the link;
:class:`NativeLink` tells it the protocol: replies wake the request waiting for their
sequence number and type, telemetry updates a per-channel snapshot, events go to the
driver's queue and subscribers. On a synchronous port (the in-process simulator) there is
no reader thread: the device answers inside the write, and the requester reads it.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

from tensctl.drivers import convert
from tensctl.drivers.base import (
    ChannelSettings,
    ChannelTelemetry,
    DeviceEvent,
    DeviceInfo,
    Driver,
)
from tensctl.drivers.errors import CommandRefused, DriverError, LinkLost
from tensctl.drivers.link import Answers, Link, LinkSetup
from tensctl.drivers.port import Port
from tensctl.wire import Deframer, FrameError, MessageError, decode_message, encode
from tensctl.wire.codes import MsgType
from tensctl.wire.messages import (
    Ack,
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
from tensctl.wire.replies import Identity, Impedance

CHANNELS = 8  # a channel mask's bits


class Incoming(NamedTuple):
    """A message from the device and the host session its frame carried."""

    message: Message
    session: int


class NativeLink(Link[Message, Incoming, bytes]):
    """The native protocol on the shared link: 16-bit sequence numbers, the host session
    in every frame (adopted from the ACK of an IDENTIFY), ACK/NACK matched by the request's
    sequence number and type. Telemetry and events go to the driver."""

    synchronous_ports = True

    def __init__(
        self,
        setup: LinkSetup,
        on_telemetry: Callable[[ChannelTelemetry], None],
        on_event: Callable[[DeviceEvent], None],
    ) -> None:
        super().__init__(setup)
        self._on_telemetry, self._on_event = on_telemetry, on_event
        self.session = 0  # the device's host session, from the ACK of our IDENTIFY
        self._deframer = Deframer()
        self.start()

    def _encode(self, request: Message, number: int) -> tuple[int, bytes]:
        return request.TYPE, encode(request, number, self.session)

    def _decode(self, data: bytes) -> Iterator[Incoming | None]:
        for item in self._deframer.feed(data):
            if isinstance(item, FrameError):
                yield None
                continue
            message = decode_message(item)
            yield None if isinstance(message, MessageError) else Incoming(message, item.session)

    def _answers(self, incoming: Incoming) -> Answers | None:
        message = incoming.message
        if isinstance(message, Ack | Nack):
            return Answers(message.req_seq, message.req_type)
        return None

    def _answered(self, reply: Incoming) -> None:
        message = reply.message
        if isinstance(message, Ack) and message.req_type == MsgType.IDENTIFY:
            self.session = reply.session  # the device's new session: every frame carries it

    def _result(self, reply: Incoming, what: str) -> bytes:
        message = reply.message
        if isinstance(message, Nack):
            name, reason = convert.refusal(message.error)
            raise CommandRefused(what, name, reason)
        if isinstance(message, Ack):
            return message.payload
        raise LinkLost(f"{self.url}: {what} was answered by neither ACK nor NACK")  # cannot be

    def _received(self, incoming: Incoming) -> None:
        message = incoming.message
        if isinstance(message, Telemetry):
            self._on_telemetry(convert.telemetry(message))
        elif isinstance(message, Event):
            self._on_event(convert.event(message))


class NativeDriver(Driver):
    def __init__(self, port: Port, url: str, timeout_s: float = 0.25, retries: int = 2) -> None:
        super().__init__()
        self.url, self._port = url, port
        self.timeout_s, self.retries = timeout_s, retries
        self._state_lock = threading.Lock()
        self._telemetry: dict[int, ChannelTelemetry] = {}
        self.info: DeviceInfo | None = None
        setup = LinkSetup(port, url, timeout_s, retries, self._link_lost)
        self._link = NativeLink(setup, self._telemetry_arrived, self._notify)

    @property
    def bad_frames(self) -> int:
        """Frames that failed their CRC or did not decode (dropped)."""
        return self._link.bad_frames

    # ---- the interface -----------------------------------------------------------------

    def identify(self) -> DeviceInfo:
        # IDENTIFY carries a number of this attempt's own, so the device answers a duplicated
        # frame with the session it already began instead of beginning a second one
        self._link.session = secrets.randbits(32)
        payload = self._link.request(Identify(), "IDENTIFY")
        try:
            self.info = convert.info(Identity.unpack(payload))
        except ValueError as exc:
            raise LinkLost(f"{self.url}: the device's identity does not decode: {exc}") from None
        return self.info

    def _channel_count(self) -> int:
        return CHANNELS  # the wire's; a device refuses those it lacks (BAD_CHANNEL)

    def _configure(self, channel: int, settings: ChannelSettings) -> None:
        message = convert.to_configure(channel, settings)
        self._link.request(message, f"CONFIGURE on channel {channel}")

    def _set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        ua = convert.amplitude_ua(amplitude_ma)
        self._link.request(SetAmplitude(channel, ua), f"{amplitude_ma:g} mA on channel {channel}")

    def _start(self, channels: list[int]) -> None:
        self._link.request(Start(convert.channel_mask(channels)), f"START of channels {channels}")

    def _stop(self, channels: list[int]) -> None:
        self._link.request(Stop(convert.channel_mask(channels)), f"STOP of channels {channels}")

    def emergency_stop(self) -> None:
        self._link.request(EmergencyStop(), "EMERGENCY_STOP", attempts=self.retries + 3)

    def heartbeat(self) -> None:
        self._link.request(Heartbeat(), "HEARTBEAT")

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        self._link.refresh()
        with self._state_lock:
            return dict(self._telemetry)

    def _refresh(self) -> None:
        self._link.refresh()

    def _measure_impedance(self, channel: int) -> float:
        payload = self._link.request(MeasureImpedance(channel), f"impedance of channel {channel}")
        try:
            return convert.ohm(Impedance.unpack(payload).impedance_ohm)
        except ValueError as exc:
            raise LinkLost(f"{self.url}: impedance reply does not decode: {exc}") from None

    def _reset_fault(self, channels: list[int]) -> None:
        self._link.request(ResetFault(convert.channel_mask(channels)), f"fault reset of {channels}")

    def close(self) -> None:
        """Stop every channel (one try: the device's watchdog stands behind it), then
        release the port."""
        if self._link.closed:
            return
        info = self.info
        if info is not None:
            with contextlib.suppress(DriverError, LinkLost):  # the watchdog stands behind
                every = convert.channel_mask(list(range(1, info.channels + 1)))
                self._link.request(Stop(every), "STOP of every channel", attempts=1)
        self._link.close()

    # ---- from the link -----------------------------------------------------------------

    def _telemetry_arrived(self, t: ChannelTelemetry) -> None:
        with self._state_lock:
            self._telemetry[t.channel] = t
        self._touch()

    def _link_lost(self, tries: int) -> None:
        self._notify(DeviceEvent("link_lost", None, detail=tries))
