"""A progress line for a terminal: one class for every long byte count the tools run.

- Local work (build-package compressing an archive, verify-artifacts hashing one): `add(n)` as bytes go by; the
  line shows the label, the percent and the MiB so far (`compressing x.tar.gz  50% 2/4 MiB`).
- Uploads (publish-release): a transport's hook `(rel, done, size)` per server; the line shows the current file's
  percent, then bytes, percent, rate and ETA in total across every server's copy. `done` is how many bytes of the
  remote file exist now, so a resumed upload starts at its offset; the rate counts only the bytes this run sent.

A release can take minutes to compress or upload; a person at a terminal wants to see that it moves. The line is
redrawn in place (carriage return, erase to the end of the line) at most every `interval` seconds, plus once when
a file completes, and cleared by close(), so the one-line summaries that follow stay clean. One predicate decides
whether to draw at all (`drawable`): a terminal without NO_COLOR (releng.cli.color) and not a CI job; a log file,
a CI job or a pipe gets no control characters at all. Mirrors upload in parallel threads, so updates are
serialised by a lock.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from releng import cli

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
    """One redrawn line for `total` bytes: `add` for local work under a label, `hook(server)` for a transport."""

    def __init__(self, total: int, stream: TextIO, *, label: str = "", clock: Callable[[], float] = time.monotonic,
                 interval: float = 0.1, width: int | None = None) -> None:
        self.total, self.stream, self.label, self.clock, self.interval = max(total, 1), stream, label, clock, interval
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self.count = 0  # bytes counted by add()
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], int] = {}
        self._first: dict[tuple[str, str], int] = {}
        self._start = clock()
        self._drawn_at: float | None = None
        self._shown = False

    def add(self, n: int) -> None:
        """`n` more bytes of the labelled work (compressed, hashed) are done."""
        with self._lock:
            self.count += n
            now = self.clock()
            if self._due(now, final=False):
                self._draw(self.count_line(), now)

    def count_line(self) -> str:
        """The text of add()'s line (no control characters)."""
        pct = min(100, self.count * 100 // self.total)
        return f"{self.label} {pct:3d}% {self.count >> 20}/{self.total >> 20} MiB"

    def hook(self, server: str) -> Hook:
        return lambda rel, done, size: self.update(server, rel, done, size)

    def update(self, server: str, rel: str, done: int, size: int) -> None:
        with self._lock:
            key = (server, rel)
            self._first.setdefault(key, done)
            self._done[key] = done
            now = self.clock()
            if self._due(now, final=done >= size):
                self._draw(self.line(server, rel, done, size, now), now)

    def line(self, server: str, rel: str, done: int, size: int, now: float) -> str:
        """The text of an upload's line (no control characters): what a test or a log can read."""
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

    def _due(self, now: float, *, final: bool) -> bool:
        """Draw now? The first time, when a file completes, and otherwise at most every `interval` seconds."""
        return final or self._drawn_at is None or now - self._drawn_at >= self.interval

    def _draw(self, text: str, now: float) -> None:
        self._drawn_at = now
        self.stream.write("\r" + text[: self.width - 1] + "\x1b[K")
        self.stream.flush()
        self._shown = True


def drawable(stream: TextIO) -> bool:
    """Whether to draw a progress line on `stream`: a terminal with NO_COLOR unset (releng.cli.color, DESIGN.md),
    and not a CI job (CI set), whose log would keep every redraw."""
    return cli.color(stream) and not os.environ.get("CI")


def for_args(args: argparse.Namespace, total: int, stream: TextIO | None = None, *,
             label: str = "") -> Progress | None:
    """A Progress on stderr when it is `drawable` and the user asked for neither --quiet nor --json; else None."""
    stream = stream or sys.stderr
    if getattr(args, "quiet", 0) or getattr(args, "json", False) or getattr(args, "out", None) == "-":
        return None
    if not drawable(stream):
        return None
    return Progress(total, stream, label=label)
