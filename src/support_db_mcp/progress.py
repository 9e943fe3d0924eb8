"""A small progress bar for long terminal work, drawn on stderr (stdout belongs to MCP)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """`bar.advance(n)`; redraws at most ten times a second, only when the stream is a terminal."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = self.stream.isatty()
        self.started = time.perf_counter()
        self._drawn_at = 0.0

    def advance(self, amount: int) -> None:
        self.done = min(self.total, self.done + amount)
        now = time.perf_counter()
        if self.enabled and (now - self._drawn_at >= 0.1 or self.done == self.total):
            self._drawn_at = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total
        filled = int(self.width * fraction)
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        self.stream.write(
            f"\r{self.label:<10} [{'#' * filled}{'.' * (self.width - filled)}] {fraction:6.1%} "
            f"{self.done:>10,}/{self.total:,}  {elapsed:5.1f}s  eta {eta:5.1f}s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()
