"""The wall-clock budget lens code ticks against (loops, calls and comprehensions tick it).

Checked every few thousand ticks, so a tick costs a decrement; once spent it stays spent.
"""

from __future__ import annotations

import math
import time

from atdata.sandbox.failures import LensTimeout


class Budget:
    """The wall-clock budget lens code ticks against; checked every few thousand ticks."""

    __slots__ = ("countdown", "deadline")
    EVERY = 2048

    def __init__(self) -> None:
        self.countdown = self.EVERY
        self.deadline = math.inf

    def start(self, seconds: float) -> None:
        self.countdown = self.EVERY
        self.deadline = time.monotonic() + seconds

    def tick(self) -> bool:
        self.countdown -= 1
        if self.countdown <= 0:
            if time.monotonic() > self.deadline:
                # Stays spent: every later tick raises too, so a loop that swallows the exception
                # (``finally: continue``) meets it again at its next iteration and cannot go on.
                self.countdown = 0
                raise LensTimeout("the lens ran past the wall-clock limit for its batch")
            self.countdown = self.EVERY
        return True
