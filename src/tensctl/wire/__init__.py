"""The native tensctl serial protocol: COBS framing, CRC-32, typed messages. Pure, no I/O.

Specified in ``docs/wire-protocol.md``; golden byte vectors in ``tests/wire``.
"""

from __future__ import annotations

from tensctl.wire.frame import Deframer, Frame, FrameError, decode_frame, encode_frame
from tensctl.wire.messages import Message
from tensctl.wire.replies import MessageError, decode_message


def encode(message: Message, seq: int, session: int = 0) -> bytes:
    """The bytes on the wire for ``message`` with sequence number ``seq`` in host session
    ``session``."""
    return encode_frame(Frame(seq, message.TYPE, message.body(), session))


__all__ = [
    "Deframer",
    "Frame",
    "FrameError",
    "Message",
    "MessageError",
    "decode_frame",
    "decode_message",
    "encode",
    "encode_frame",
]
