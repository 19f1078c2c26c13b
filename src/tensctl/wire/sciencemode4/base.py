"""The shape every ScienceMode4 message shares: a command number and its data bytes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tensctl.wire.sciencemode4.codes import Command, Result
from tensctl.wire.sciencemode4.frame import encode_frame


@dataclass(frozen=True)
class Message:
    COMMAND: ClassVar[Command]

    def data(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 0)
        return cls()

    def encode(self, number: int) -> bytes:
        return encode_frame(number, self.COMMAND, self.data())


def _exact(data: bytes, n: int) -> None:
    if len(data) != n:
        raise ValueError(f"{len(data)} data bytes, expected {n}")


@dataclass(frozen=True)
class _ResultOnly(Message):
    result: int = Result.OK

    def data(self) -> bytes:
        return bytes((self.result,))

    @classmethod
    def parse(cls, data: bytes) -> Message:
        _exact(data, 1)
        return cls(data[0])
