"""An upload progress line for a terminal: the current file's percent, then bytes, percent, rate and ETA in total.

Uploads of a release can take minutes; a person at a terminal wants to see that they move. The line is redrawn in
place (carriage return, erase to the end of the line) at most every `interval` seconds, plus once when a file
completes, and cleared by close(), so the one-line summaries that follow stay clean. It is shown only when stderr is
a terminal and neither --quiet nor --json was given (`for_args`): a log file, a CI job or a pipe gets no control
characters at all. Mirrors upload in parallel threads, so updates are serialised by a lock, and the total counts
every server's copy.

Transports report through a hook `(server, rel, done, size)`: `done` is how many bytes of the remote file exist now,
so a resumed upload starts at its offset; the rate counts only the bytes this run sent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

Hook = Callable[[str, int, int], None]  # what a transport calls: (rel, done, size)


def human(n: float) -> str:
    """Bytes in binary units, three significant figures: 512 B, 48.0 MiB, 1.50 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def clock_text(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """One redrawn line for `total` bytes to send across every server; `hook(server)` is a transport's callback."""

    def __init__(self, total: int, stream: TextIO, *, clock: Callable[[], float] = time.monotonic,
                 interval: float = 0.1, width: int | None = None) -> None:
        self.total, self.stream, self.clock, self.interval = max(total, 1), stream, clock, interval
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], int] = {}
        self._first: dict[tuple[str, str], int] = {}
        self._start = clock()
        self._drawn_at: float | None = None
        self._shown = False

    def hook(self, server: str) -> Hook:
        return lambda rel, done, size: self.update(server, rel, done, size)

    def update(self, server: str, rel: str, done: int, size: int) -> None:
        with self._lock:
            key = (server, rel)
            self._first.setdefault(key, done)
            self._done[key] = done
            now = self.clock()
            if done < size and self._drawn_at is not None and now - self._drawn_at < self.interval:
                return
            self._drawn_at = now
            self.stream.write("\r" + self.line(server, rel, done, size, now)[: self.width - 1] + "\x1b[K")
            self.stream.flush()
            self._shown = True

    def line(self, server: str, rel: str, done: int, size: int, now: float) -> str:
        """The text of the line (no control characters): what a test or a log can read."""
        name = rel.rsplit("/", 1)[-1]
        total_done = min(sum(self._done.values()), self.total)
        sent = sum(self._done[k] - self._first[k] for k in self._done)
        elapsed = max(now - self._start, 1e-6)
        rate = sent / elapsed
        eta = clock_text((self.total - total_done) / rate) if rate > 0 else "--:--"
        return (f"{server}: {name} {100 * done // max(size, 1)}% | {human(total_done)} of {human(self.total)} "
                f"{100 * total_done // self.total}% {human(rate)}/s ETA {eta}")

    def close(self) -> None:
        """Erase the line (the caller prints its summary next)."""
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = False


def for_args(args: argparse.Namespace, total: int, stream: TextIO | None = None) -> Progress | None:
    """A Progress on stderr when it is a terminal and the user asked for neither --quiet nor --json; else None."""
    stream = stream or sys.stderr
    if getattr(args, "quiet", 0) or getattr(args, "json", False) or getattr(args, "out", None) == "-":
        return None
    if not stream.isatty():
        return None
    return Progress(total, stream)
