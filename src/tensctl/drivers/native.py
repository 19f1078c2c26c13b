"""The driver for devices that speak the native tensctl wire protocol (``docs/wire-protocol.md``):
the simulator over any transport, and firmware built from that document.

A reader thread splits the incoming stream into frames; replies wake the request waiting
for their sequence number, telemetry updates a per-channel snapshot, events go to a queue
and to subscribers. Requests hold the write lock only while writing, so an emergency stop
goes out at once even while other requests wait for their replies. A request without a
reply is sent again (with a new sequence number: commands are absolute, so a repeat is
harmless) and after the last try the link counts as lost.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections import deque
from collections.abc import Iterable

from tensctl.drivers import convert
from tensctl.drivers.base import (
    ChannelSettings,
    ChannelTelemetry,
    DeviceEvent,
    DeviceInfo,
    Driver,
    EventCallback,
)
from tensctl.drivers.errors import CommandRefused, DriverError, LinkLost
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

READ_POLL_S = 0.01


class _Waiter:
    def __init__(self, msg_type: int) -> None:
        self.msg_type = msg_type
        self.done = threading.Event()
        self.reply: Ack | Nack | None = None


class NativeDriver(Driver):
    def __init__(self, port: Port, url: str, timeout_s: float = 0.25, retries: int = 2) -> None:
        self.url, self._port = url, port
        self.timeout_s, self.retries = timeout_s, retries
        port.timeout = READ_POLL_S
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._seq = 0
        self._session = 0  # the device's host session, from the ACK of our IDENTIFY
        self._pending: dict[int, _Waiter] = {}
        self._telemetry: dict[int, ChannelTelemetry] = {}
        self._events: deque[DeviceEvent] = deque(maxlen=10_000)
        self._callbacks: list[EventCallback] = []
        self._link_error: str | None = None
        self._closed = threading.Event()
        self.bad_frames = 0
        self._updates = 0
        self.info: DeviceInfo | None = None
        self._deframer = Deframer()
        # A synchronous port (the in-process simulator) answers inside write(): the driver
        # then reads the reply itself instead of waiting for a reader thread.
        self.synchronous = bool(getattr(port, "synchronous", False))
        self._reader = threading.Thread(target=self._read_loop, name="tensctl-reader", daemon=True)
        if not self.synchronous:
            self._reader.start()

    # ---- the interface -----------------------------------------------------------------

    def identify(self) -> DeviceInfo:
        # IDENTIFY carries a number of this attempt's own, so the device answers a duplicated
        # frame with the session it already began instead of beginning a second one
        self._session = secrets.randbits(32)
        payload = self._request(Identify(), "IDENTIFY")
        try:
            self.info = convert.info(Identity.unpack(payload))
        except ValueError as exc:
            raise LinkLost(f"{self.url}: the device's identity does not decode: {exc}") from None
        return self.info

    def configure(self, channel: int, settings: ChannelSettings) -> None:
        message = convert.to_configure(channel, settings)
        self._request(message, f"CONFIGURE on channel {channel}")

    def set_amplitude(self, channel: int, amplitude_ma: float) -> None:
        ua = convert.amplitude_ua(amplitude_ma)
        self._request(SetAmplitude(channel, ua), f"{amplitude_ma:g} mA on channel {channel}")

    def start(self, channels: Iterable[int]) -> None:
        chosen = list(channels)
        self._request(Start(convert.channel_mask(chosen)), f"START of channels {chosen}")

    def stop(self, channels: Iterable[int]) -> None:
        chosen = list(channels)
        self._request(Stop(convert.channel_mask(chosen)), f"STOP of channels {chosen}")

    def emergency_stop(self) -> None:
        self._request(EmergencyStop(), "EMERGENCY_STOP", attempts=self.retries + 3)

    def heartbeat(self) -> None:
        self._request(Heartbeat(), "HEARTBEAT")

    def telemetry(self) -> dict[int, ChannelTelemetry]:
        self._pump_if_live()
        with self._state_lock:
            return dict(self._telemetry)

    def events(self) -> list[DeviceEvent]:
        self._pump_if_live()
        with self._state_lock:
            out = list(self._events)
            self._events.clear()
            return out

    def update_count(self) -> int:
        self._pump_if_live()
        return self._updates

    def _pump_if_live(self) -> None:
        """A synchronous port that runs on its own (real time) may have news at any moment;
        one in virtual time has news only when asked something (it is pumped then)."""
        if self.synchronous and getattr(self._port, "ticking", False):
            with self._write_lock:
                self._pump()

    def subscribe(self, callback: EventCallback) -> None:
        with self._state_lock:
            self._callbacks.append(callback)

    def measure_impedance(self, channel: int) -> float:
        payload = self._request(MeasureImpedance(channel), f"impedance of channel {channel}")
        try:
            return convert.ohm(Impedance.unpack(payload).impedance_ohm)
        except ValueError as exc:
            raise LinkLost(f"{self.url}: impedance reply does not decode: {exc}") from None

    def reset_fault(self, channels: Iterable[int]) -> None:
        chosen = list(channels)
        self._request(ResetFault(convert.channel_mask(chosen)), f"fault reset of {chosen}")

    def close(self) -> None:
        """Stop every channel (one try: the device's watchdog stands behind it), then
        release the port."""
        if self._closed.is_set():
            return
        info = self.info
        if info is not None:
            with contextlib.suppress(DriverError, LinkLost):  # the watchdog stands behind
                every = convert.channel_mask(list(range(1, info.channels + 1)))
                self._request(Stop(every), "STOP of every channel", attempts=1)
        self._closed.set()
        if self._reader.is_alive():
            self._reader.join(timeout=1.0)
        self._port.close()

    # ---- requests ----------------------------------------------------------------------

    def _request(self, message: Message, what: str, attempts: int | None = None) -> bytes:
        tries = attempts if attempts is not None else self.retries + 1
        for _ in range(tries):
            if self._closed.is_set():
                raise LinkLost(f"{self.url}: the driver is closed")
            waiter = _Waiter(message.TYPE)
            with self._write_lock:
                seq, self._seq = self._seq, (self._seq + 1) & 0xFFFF
                with self._state_lock:
                    self._pending[seq] = waiter
                try:
                    self._port.write(encode(message, seq, self._session))
                except Exception as exc:  # pyserial raises SerialException or OSError
                    self._lose_link(f"write failed: {exc}")
                if self.synchronous:
                    self._pump()  # no reply now is no reply: a timeout, without the wait
            answered = (
                waiter.done.is_set() if self.synchronous else waiter.done.wait(self.timeout_s)
            )
            with self._state_lock:
                self._pending.pop(seq, None)
            if self._link_error is not None and waiter.reply is None:
                raise LinkLost(f"{self.url}: link lost during {what}: {self._link_error}")
            reply = waiter.reply
            if answered and isinstance(reply, Ack):
                return reply.payload
            if answered and isinstance(reply, Nack):
                name, reason = convert.refusal(reply.error)
                raise CommandRefused(what, name, reason)
        error = f"no answer to {what} after {tries} tries of {self.timeout_s * 1000:.0f} ms"
        self._notify(DeviceEvent("link_lost", None, detail=tries))
        raise LinkLost(f"{self.url}: {error}")

    # ---- the reader thread -------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._closed.is_set():
            try:
                # read(n) waits for n bytes or the timeout, so read one byte (returns as soon
                # as it comes) and then what is waiting: a reply is seen at once, not 10 ms on
                data = self._port.read(1)
                waiting = getattr(self._port, "in_waiting", 0) if data else 0
                if waiting:
                    data += self._port.read(waiting)
            except Exception as exc:  # the port went away: unplugged, closed, socket reset
                if not self._closed.is_set():
                    self._lose_link(f"read failed: {exc}")
                return
            if data:
                self._feed(data)

    def _pump(self) -> None:
        """Synchronous ports: take and handle everything the device has sent so far."""
        data = self._port.read_available()  # type: ignore[attr-defined]
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        for item in self._deframer.feed(data):
            message = None if isinstance(item, FrameError) else decode_message(item)
            if isinstance(item, FrameError) or isinstance(message, MessageError | None):
                self.bad_frames += 1
                continue
            self._dispatch(message, item.session)

    def _dispatch(self, message: Message, session: int) -> None:
        if isinstance(message, Ack | Nack):
            with self._state_lock:
                waiter = self._pending.get(message.req_seq)
            if waiter is not None and waiter.msg_type == message.req_type and waiter.reply is None:
                if isinstance(message, Ack) and message.req_type == MsgType.IDENTIFY:
                    self._session = session  # the device's new session: every frame carries it
                waiter.reply = message
                waiter.done.set()
        elif isinstance(message, Telemetry):
            with self._state_lock:
                self._telemetry[message.channel] = convert.telemetry(message)
                self._updates += 1
        elif isinstance(message, Event):
            self._notify(convert.event(message))

    def _notify(self, event: DeviceEvent) -> None:
        with self._state_lock:
            self._events.append(event)
            self._updates += 1
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback(event)

    def _lose_link(self, reason: str) -> None:
        with self._state_lock:
            if self._link_error is not None:
                return
            self._link_error = reason
            waiters = list(self._pending.values())
        for waiter in waiters:
            waiter.done.set()
        self._notify(DeviceEvent("link_lost", None))
