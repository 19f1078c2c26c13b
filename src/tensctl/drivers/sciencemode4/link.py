"""ScienceMode4 on the shared link (:mod:`tensctl.drivers.link`): packet numbers, matching,
what is retried.

Every request carries a packet number (0-63); the device answers ``command + 1`` with the
same number. A GeneralError (the device received a damaged frame) answers every waiting
request, and each sends itself again; an UnknownCommand answers whatever had its number
and refuses it. A request without an answer is sent again with a new number (every
mid-level command is absolute, so a repeat is harmless); after the last try the link
counts as lost. Once the port has failed, nothing more is written. ``allowed`` (an
emergency stop has not intervened) is asked before every write: False refuses the command
unsent (``FAULT_LATCHED``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from tensctl.drivers import link
from tensctl.drivers.errors import CommandRefused
from tensctl.wire.sciencemode4 import (
    Deframer,
    FrameError,
    GeneralError,
    Message,
    MessageError,
    Packet,
    Result,
    UnknownCommand,
    decode_message,
    result_name,
    result_reason,
)


class Incoming(NamedTuple):
    packet: Packet
    message: Message


class Link(link.Link[Message, Incoming, Message]):
    reader_name = "sm4-reader"
    numbers = 64
    writes_when_lost = False

    def __init__(self, setup: link.LinkSetup) -> None:
        super().__init__(setup)
        self._deframer = Deframer()
        self.transfer_errors = 0
        self.start()

    def _encode(self, request: Message, number: int) -> tuple[int, bytes]:
        return request.COMMAND + 1, request.encode(number)

    def _decode(self, data: bytes) -> Iterator[Incoming | None]:
        for item in self._deframer.feed(data):
            message = None if isinstance(item, FrameError) else decode_message(item)
            if isinstance(item, FrameError) or isinstance(message, MessageError | None):
                yield None
                continue
            if isinstance(message, GeneralError):
                self.transfer_errors += 1
            yield Incoming(item, message)

    def _answers(self, incoming: Incoming) -> link.Answers:
        packet, message = incoming
        if isinstance(message, GeneralError):  # a transfer error: every waiter retries
            return link.Answers(None, None)
        if isinstance(message, UnknownCommand):  # answers whatever had this number
            return link.Answers(packet.number, None)
        return link.Answers(packet.number, packet.command)

    def _retryable(self, reply: Incoming) -> bool:
        return isinstance(reply.message, GeneralError)

    def _result(self, reply: Incoming, what: str) -> Message:
        if isinstance(reply.message, UnknownCommand):
            raise CommandRefused(what, "INVALID_COMMAND", "the device does not know it")
        return reply.message

    def _cancelled(self, what: str) -> Exception:
        return CommandRefused(what, "FAULT_LATCHED", "an emergency stop intervened")


def checked(reply: Message, what: str, ok_if_idle: bool = False) -> Message:
    """``reply`` if its result is 0 (or 7, not initialised, where that means nothing runs);
    otherwise :class:`CommandRefused` named after the result."""
    code = getattr(reply, "result", Result.OK)
    if code == Result.OK or (ok_if_idle and code == Result.NOT_INITIALIZED):
        return reply
    raise CommandRefused(what, result_name(code), result_reason(code))
