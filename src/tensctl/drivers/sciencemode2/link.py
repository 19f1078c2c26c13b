"""ScienceMode2 on the shared link (:mod:`tensctl.drivers.link`): the Init handshake,
matching, what is retried.

The device starts the connection: it sends ``Init`` every 500 ms until it gets ``InitAck``
(echoing the Init's packet number). The reader thread answers every Init at once, and
:meth:`Link.connect` waits for the first. An Init after the session is established (the
first command acked) means the device restarted its connection — a power cycle or its
watchdog — and is reported through ``on_reset``; a StimulationError through ``on_error``.

Every command carries a new packet number; its Ack (command + 1) echoes it, and so does an
UnknownCommand. A command is sent again (new number: commands are absolute) on silence, a
transfer error or "busy"; a retryable result on every try is the answer (the caller refuses
with it), silence on every try a lost link. ``Watchdog`` is never answered
(:meth:`Link.send`).

The reader thread also runs the driver's event callbacks, and cannot wait for a reply only
it can read: from there :meth:`Link.request` refuses (:class:`~tensctl.drivers.link.Reentrant`),
and :meth:`Link.request_later` sends from a helper thread that waits for the Ack instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from tensctl.drivers import link
from tensctl.drivers.errors import LinkLost
from tensctl.wire.sciencemode2 import (
    Command,
    Deframer,
    FrameError,
    Init,
    InitAck,
    Message,
    Result,
    StimulationError,
    UnknownCommand,
    decode,
)

RETRYABLE = frozenset({Result.TRANSFER_ERROR, Result.BUSY})

MakeCommand = Callable[[int], Message]
"""A command for a packet number (built as it is written: a list update takes the
channels' levels at that moment)."""


class Link(link.Link[MakeCommand, Message, Message]):
    reader_name = "sm2-reader"
    numbers = 0x100
    refuses_reentrant = True
    answers_when_retries_run_out = True

    def __init__(
        self, setup: link.LinkSetup, on_reset: Callable[[], None], on_error: Callable[[int], None]
    ) -> None:
        super().__init__(setup)
        self._on_reset, self._on_error = on_reset, on_error
        self._deframer = Deframer()
        self._init_seen = threading.Event()
        self.established = False
        self.start()

    def connect(self, wait_s: float) -> None:
        """Wait for the device's Init (already answered by the reader thread)."""
        if not self._init_seen.wait(wait_s):
            raise LinkLost(
                f"{self.url}: no Init from the device in {wait_s:g} s "
                "(is it a RehaStim2 in ScienceMode2?)"
            )

    def send(self, make: MakeCommand) -> None:
        """A packet without an answer (Watchdog)."""
        self.post(make)

    # ---- the protocol ------------------------------------------------------------------

    def _encode(self, request: MakeCommand, number: int) -> tuple[int, bytes]:
        message = request(number)
        return message.COMMAND + 1, message.encode()

    def _decode(self, data: bytes) -> Iterator[Message | None]:
        for item in self._deframer.feed(data):
            message = None if isinstance(item, FrameError) else decode(item)
            yield message if isinstance(message, Message) else None

    def _answers(self, message: Message) -> link.Answers | None:
        if isinstance(message, Init | StimulationError):
            return None
        if message.COMMAND in (Command.INIT_ACK, Command.WATCHDOG):
            return None  # our own packets, echoed by nobody: nothing to do
        if isinstance(message, UnknownCommand):
            return link.Answers(message.packet_number, None)
        return link.Answers(message.packet_number, message.COMMAND)

    def _received(self, message: Message) -> None:
        if isinstance(message, Init):
            # answered at once: the device repeats Init every 500 ms
            self.write_now(InitAck(message.packet_number, Result.OK).encode())
            if self.established:
                self.established = False
                self._on_reset()
            self._init_seen.set()
        elif isinstance(message, StimulationError):
            self._on_error(message.error)

    def _answered(self, reply: Message) -> None:
        self.established = True  # the device answers in this session

    def _retryable(self, reply: Message) -> bool:
        return getattr(reply, "result", Result.OK) in RETRYABLE

    def _result(self, reply: Message, what: str) -> Message:
        return reply  # the caller reads its result (ChannelList.check)
