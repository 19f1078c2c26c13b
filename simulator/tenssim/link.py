"""Impairments of the serial link, applied both ways: bit flips, lost, doubled and
delayed frames, and silence. Seeded, so a run with the same seed fails the same way."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Link:
    seed: int = 0
    corruption_rate: float = 0.0
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_s: float = 0.0
    silent_until_s: float = float("-inf")
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def silent(self, now_s: float) -> bool:
        return now_s < self.silent_until_s

    def corrupt(self, data: bytes) -> bytes:
        """Flip one random bit in each byte chosen with ``corruption_rate``."""
        if self.corruption_rate <= 0:
            return data
        out = bytearray(data)
        for i in range(len(out)):
            if self.rng.random() < self.corruption_rate:
                out[i] ^= 1 << self.rng.randrange(8)
        return bytes(out)

    def copies(self) -> int:
        """How many times the next frame arrives: 0 (lost), 1, or 2 (doubled)."""
        if self.drop_rate and self.rng.random() < self.drop_rate:
            return 0
        if self.duplicate_rate and self.rng.random() < self.duplicate_rate:
            return 2
        return 1
