"""Progress of a long job on stderr: runs done, runs per minute, time left (no dependencies).

On a terminal the line is redrawn in place; otherwise (logs, CI) a line is printed at most every
``log_every`` seconds, and always at the end.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_duration(seconds: float) -> str:
    """``3725`` -> ``"1h 02m"``, ``75`` -> ``"1m 15s"``, ``9.4`` -> ``"9s"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


class Progress:
    """Counts finished units of work out of ``total`` and reports the rate.

    Args:
        total: units of work this job will do (runs already finished before are not counted).
        label: what is being done, e.g. ``"digits 0.7"``.
        stream: where to write (stderr by default).
        clock: seconds as a float (``time.monotonic``); injectable for tests.
        log_every: seconds between lines when ``stream`` is not a terminal.
        detail: called for a few more words at the end of each line (e.g. which cluster workers
            are busy), only when a line is written.
    """

    def __init__(self, total: int, label: str = "", *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, log_every: float = 10.0,
                 unit: str = "runs", detail: Callable[[], str] | None = None):
        self.total = int(total)
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.log_every = log_every
        self.unit = unit
        self.detail = detail
        self.done = 0
        self.start = clock()
        # The first line waits log_every seconds: a rate from the first unit alone says little.
        self._last_print = self.start
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def rate_per_minute(self) -> float:
        """Units finished per minute so far (0 before the first)."""
        elapsed = self.clock() - self.start
        return 60.0 * self.done / elapsed if elapsed > 0 and self.done else 0.0

    def seconds_left(self) -> float | None:
        """Estimated seconds until ``total`` at the rate so far (None before the first unit)."""
        rate = self.rate_per_minute()
        return (self.total - self.done) * 60.0 / rate if rate > 0 else None

    def line(self) -> str:
        """The current status line, e.g. ``digits 0.7: 120/400 runs, 35.2 runs/min, 8m 00s left``."""
        left = self.seconds_left()
        parts = [f"{self.done}/{self.total} {self.unit}"]
        if self.done:
            parts.append(f"{self.rate_per_minute():.1f} {self.unit}/min")
        if self.done >= self.total:
            parts.append(f"took {format_duration(self.clock() - self.start)}")
        elif left is not None:
            parts.append(f"{format_duration(left)} left")
        if self.detail is not None:
            parts.append(self.detail())
        prefix = f"{self.label}: " if self.label else ""
        return prefix + ", ".join(parts)

    def update(self, n: int = 1) -> None:
        """Record ``n`` more finished units and redraw (rate-limited when not a terminal)."""
        self.done += int(n)
        now = self.clock()
        if self._tty or self.done >= self.total or now - self._last_print >= self.log_every:
            self._write()
            self._last_print = now

    def close(self) -> None:
        """Finish the line on a terminal."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _write(self) -> None:
        if self._tty:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
