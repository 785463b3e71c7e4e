"""The commit graph release-metrics measures, read from ONE `git log --all`: each release's range, the hotfix
branches that contain a release, the fix commits that landed after it without being in it.

Asking git per release (a `git log A..B`, a `for-each-ref --contains` and a `git log --all ^<tag> --since=...`
over the whole graph for each tag) grew with releases x history: more than 25 minutes on bench/make_repo.py's
100,000 commits and 2,090 tags (issue 14). Here the history is read once and every question is answered from the
graph in memory. Walks are bounded by generation numbers (git's commit-graph idea: a commit's generation is one
more than its parents' highest, so an ancestor always has a lower one than its descendants), never by dates, which
clocks skew. The answers are the sets git's own ranges give: tests compare them with git's on made-up histories.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from releng import commits, git

_BOTH = 3  # walk flags: 1 reached from the tip, 2 from the excluded side


class Graph:
    """Every commit on any ref, by its position in the log (newest first): parents, dates, generations, and the
    little each commit's message says that a KPI needs (a merge from a hotfix branch, a fix's subject)."""

    def __init__(self, log: Iterable[git.LogEntry], bug_types: tuple[str, ...]) -> None:
        self.shas: list[str] = []
        self.times: list[int] = []
        self.hotfix_merges: dict[int, str] = {}  # merge commit -> subject, when its message names hotfix/
        fixes: list[tuple[int, int, str]] = []  # (time, commit, subject) of non-merge commits of a bug type
        index: dict[str, int] = {}
        named: list[tuple[str, ...]] = []
        header, types = commits.HEADER.fullmatch, bug_types
        for i, e in enumerate(log):  # the hot loop: keep it lean (100,000 commits)
            index[e.sha] = i
            self.shas.append(e.sha)
            self.times.append(e.timestamp)
            named.append(e.parents)
            message = e.message
            if len(e.parents) > 1:
                if "hotfix/" in message:
                    self.hotfix_merges[i] = commits.subject(message)
            elif message.lstrip()[:16].lower().startswith(types):
                subject = commits.subject(message)
                m = header(subject)
                if m is not None and m["type"].lower() in types:
                    fixes.append((e.timestamp, i, subject))
        self.index = index
        # a parent beyond a shallow clone's boundary is not in the log: it is no commit of this graph
        self.parents: list[tuple[int, ...]] = [tuple(index[p] for p in ps if p in index) for ps in named]
        del named
        self.gen = _generations(self.parents)
        fixes.sort()
        self._fix_times = [t for t, _, _ in fixes]
        self._fixes = [(c, s) for _, c, s in fixes]

    def commit(self, sha: str) -> int | None:
        return self.index.get(sha)

    def range(self, tip: int, stop: int | None) -> list[int]:
        """git's `stop..tip`: the commits reachable from `tip` and not from `stop` (all of tip's for None).

        Both sides walk together, highest generation first, so a commit's flags are complete when it comes off
        the queue (every child it has in the walk has a higher generation); the walk ends when no queued commit
        is reached from `tip` alone.
        """
        gen, parents = self.gen, self.parents
        flags = {tip: 1}
        queue = [(-gen[tip], tip)]
        live = 1  # queued commits reached from `tip` alone
        if stop is not None:
            if stop == tip:
                return []
            flags[stop] = 2
            queue.append((-gen[stop], stop))
            heapq.heapify(queue)
        out: list[int] = []
        pop, push = heapq.heappop, heapq.heappush
        while live:
            _, c = pop(queue)
            f = flags[c]
            if f == 1:
                live -= 1
                out.append(c)
            for p in parents[c]:
                old = flags.get(p, 0)
                if old | f != old:
                    flags[p] = old | f
                    if not old:
                        push(queue, (-gen[p], p))
                        if f == 1:
                            live += 1
                    elif old == 1:
                        live -= 1  # reached from the excluded side too
        return out

    def reached(self, tip: int, targets: Iterable[int]) -> set[int]:
        """Those of `targets` that are `tip` or its ancestors; the walk goes no lower than their generations."""
        wanted = set(targets)
        if not wanted:
            return set()
        gen, parents = self.gen, self.parents
        floor = min(gen[t] for t in wanted)
        seen, stack, found = {tip}, [tip], set[int]()
        while stack and len(found) < len(wanted):
            c = stack.pop()
            if c in wanted:
                found.add(c)
            for p in parents[c]:
                if p not in seen and gen[p] >= floor:
                    seen.add(p)
                    stack.append(p)
        return found

    def fixes_after(self, tip: int, start: int, end: int, taken: set[int] | None = None) -> list[tuple[int, str]]:
        """(commit, subject) of the fix commits dated within [start, end] that `tip` does not contain, by date;
        those in `taken` (already counted for a newer release) are left out, and not walked to."""
        lo, hi = bisect_left(self._fix_times, start), bisect_right(self._fix_times, end)
        if lo == hi:
            return []
        window = self._fixes[lo:hi] if not taken else [f for f in self._fixes[lo:hi] if f[0] not in taken]
        gen, below = self.gen, self.gen[tip]
        # a commit with no lower generation than the tip is the tip or not its ancestor: no walk needed for it
        inside = self.reached(tip, [c for c, _ in window if c == tip or gen[c] < below])
        return [f for f in window if f[0] not in inside] if inside else window


def _generations(parents: list[tuple[int, ...]]) -> list[int]:
    """Each commit's generation (1 for a root). git log lists a child before its parents unless clocks are
    skewed, so one pass from the oldest usually does; otherwise a depth-first walk."""
    gen = [0] * len(parents)
    for c in range(len(parents) - 1, -1, -1):
        g = 0
        for p in parents[c]:
            if p < c:  # a parent listed before its child: the order is no topological one
                return _generations_dfs(parents)
            g = max(g, gen[p])
        gen[c] = g + 1
    return gen


def _generations_dfs(parents: list[tuple[int, ...]]) -> list[int]:
    gen = [0] * len(parents)
    for root in range(len(parents)):
        stack = [root]
        while stack:
            c = stack[-1]
            if gen[c]:
                stack.pop()
                continue
            pending = [p for p in parents[c] if not gen[p]]
            if pending:
                stack.extend(pending)
            else:
                gen[c] = 1 + max((gen[p] for p in parents[c]), default=0)
                stack.pop()
    return gen
