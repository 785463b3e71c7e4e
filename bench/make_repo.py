"""Build a large, realistic git repository in seconds, for benchmarks.

The version bumper and the changelog generator are benchmarked against commitizen and git-cliff on histories of
100,000 commits. One `git commit` per commit would take an hour, so the whole history is streamed to a single
`git fast-import` process instead. The history looks like a real plugin project's: Conventional Commits with scopes,
bodies, footers, `!` and BREAKING CHANGE, PR numbers, some non-conventional messages, reverts carrying the reverted
sha, merged feature branches, release commits with annotated SemVer tags and the odd release candidate. The same seed
gives the same shas.
"""
from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

START = 1_577_836_800  # 2020-01-01T00:00:00Z
FILES = 200  # main commits cycle through src/file_<n>.txt, so the tree stays small
PEOPLE = [  # name, email, timezone, weight: a few people write most of the commits, as in real projects
    ("Ada Lindqvist", "ada@audiolab.dev", "+0100", 9), ("Bruno Ferreira", "bruno.ferreira@gmail.com", "-0300", 7),
    ("Chen Wei", "chen.wei@audiolab.dev", "+0800", 6), ("Dana Kowalski", "dana@kowalski.pl", "+0200", 4),
    ("Émile Girard", "emile.girard@audiolab.dev", "+0100", 3), ("Farah Haddad", "farah.h@outlook.com", "+0400", 2),
    ("Gus O'Neill", "gus@oneill.ie", "+0000", 2), ("Hiro Tanaka", "h.tanaka@audiolab.dev", "+0900", 2),
    ("Isabel Ruiz", "isabel@ruiz.mx", "-0600", 1), ("Jonas Müller", "jonas.mueller@posteo.de", "+0100", 1),
    ("Kavya Rao", "kavya.rao@audiolab.dev", "+0530", 1), ("Liam Brooks", "liambrooks@users.noreply.github.com",
                                                         "-0700", 1),
]
RELEASER = ("AudioLab Release Bot", "release-bot@audiolab.dev", "+0000")
GITHUB = ("GitHub", "noreply@github.com", "+0000")
TYPES = {"feat": 24, "fix": 30, "docs": 8, "refactor": 8, "perf": 3, "test": 6, "build": 4, "ci": 4, "chore": 10,
         "style": 3}
STABLE_TYPES = ("fix", "docs", "test", "chore")  # between a release candidate and its release
SCOPES = ("dsp", "ui", "preset", "host", "installer", "vst3", "au", "midi", "gui", "build", "clap")
VERBS = {
    "feat": ("add", "support", "expose", "implement", "introduce"), "fix": ("handle", "prevent crash in", "correct",
    "avoid clicks in", "restore"), "docs": ("document", "clarify", "add an example for"), "refactor": ("simplify",
    "extract", "split up", "clean up"), "perf": ("speed up", "cache", "vectorize", "avoid allocations in"),
    "test": ("cover", "add a regression test for", "stabilize tests for"), "build": ("bump JUCE for",
    "update CMake for", "pin the toolchain for"), "ci": ("run nightly builds for", "cache builds for",
    "add a macOS job for"), "chore": ("tidy", "update copyright in", "remove dead code in"), "style": ("reformat",
    "fix lint in"),
}
THINGS = ("oversampling", "preset browser search", "sidechain input", "MIDI learn", "undo history", "tempo sync",
          "parameter smoothing", "dark theme", "sample-rate changes", "latency reporting", "state restore",
          "window scaling", "license check", "bypass handling", "meter ballistics", "factory presets",
          "denormal flushing", "the wet/dry mix", "the installer license page", "automation gestures")
BODY = ("The previous implementation allocated on the audio thread.", "Hosts that reorder parameters now work.",
        "This matches what Logic and Ableton expect.", "Reported by several users on the forum.",
        "Measured 12% less CPU in the reference session.", "No user-visible change.",
        "The old behaviour is kept behind a flag for one release.", "Tested in Reaper, Bitwig and Cubase.")
ODD = ("Update README.md", "WIP", "fix typo", "Tweak knob colours", "more logging", "Bump JUCE submodule",
       "address review comments", "oops")
BREAKS = ("preset files from 1.x are no longer read", "the `gain` parameter ID changed", "macOS 10.13 is no longer "
          "supported", "the VST2 build is gone", "plugin state is saved in a new format")


def _bump(version: tuple[int, ...], level: int) -> tuple[int, ...]:
    """SemVer from the highest change since the last release: 3 breaking, 2 feature, 1 anything else."""
    major, minor, patch = version
    if level == 3 and major > 0:
        return major + 1, 0, 0
    if level >= 2:  # a breaking change while major is 0 bumps minor (SemVer item 4)
        return major, minor + 1, 0
    return major, minor, patch + 1


class _History:
    """Writes commits and tags to fast-import's stdin and remembers what the next version should be."""

    def __init__(self, proc: subprocess.Popen[bytes], rng: random.Random) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.out: IO[bytes] = proc.stdin
        self.answers: IO[bytes] = proc.stdout
        self.rng = rng
        self.marks = self.count = self.merges = self.tags = self.main_tip = 0
        self.clock = START
        self.issue = 40  # PR and issue numbers grow with the project
        self.level = 0  # highest change since the last release
        self.features: list[tuple[int, str]] = []  # (mark, header) of recent main-line features, for reverts
        self.names = [p[:3] for p in PEOPLE]
        self.weights = [p[3] for p in PEOPLE]

    def number(self) -> int:
        self.issue += self.rng.choice((0, 1, 1, 2, 3))
        return self.rng.randint(max(1, self.issue - 60), self.issue)

    def message(self, types: Sequence[str] | None = None) -> tuple[str, int, bool]:
        """Returns a commit message, its release level, and whether it came through a GitHub pull request."""
        rng = self.rng
        if types is None and rng.random() < 0.025:
            return rng.choice(ODD) + "\n", 1, False
        kind = rng.choice(types) if types else rng.choices(list(TYPES), list(TYPES.values()))[0]
        scope = f"({rng.choice(SCOPES)})" if rng.random() < 0.6 else ""
        breaking = types is None and kind in ("feat", "fix", "refactor", "perf") and rng.random() < 0.07
        bang = "!" if breaking and rng.random() < 0.5 else ""
        subject = f"{rng.choice(VERBS[kind])} {rng.choice(THINGS)}"
        via_pr = rng.random() < 0.15
        if via_pr:
            subject += f" (#{self.number()})"
        paragraphs = [f"{kind}{scope}{bang}: {subject}"]
        if rng.random() < 0.3:
            paragraphs.append(" ".join(rng.sample(BODY, rng.randint(1, 3))))
        footers = []
        if breaking and (not bang or rng.random() < 0.3):
            footers.append(f"BREAKING CHANGE: {rng.choice(BREAKS)}")
        for chance, footer in ((0.1, "Refs: #{n}"), (0.08, "Closes: #{n}"), (0.03, "Changelog: {subject}")):
            if rng.random() < chance:
                footers.append(footer.format(n=self.number(), subject=subject.capitalize()))
        for chance, token in ((0.1, "Reviewed-by"), (0.03, "Co-authored-by"), (0.05, "Signed-off-by")):
            if rng.random() < chance:
                name, email, _ = rng.choices(self.names, self.weights)[0]
                footers.append(f"{token}: {name} <{email}>")
        if footers:
            paragraphs.append("\n".join(footers))
        level = 3 if breaking else 2 if kind == "feat" else 1
        return "\n\n".join(paragraphs) + "\n", level, via_pr

    def commit(self, ref: str, message: str, changes: dict[str, str], level: int = 1, via_pr: bool = False,
               parent: int = 0, merge: int = 0, who: tuple[str, str, str] | None = None) -> int:
        self.marks += 1
        self.count += 1
        self.clock += self.rng.randint(120, 2280)  # about 20 minutes apart, strictly increasing
        self.level = max(self.level, level)
        author = who or self.rng.choices(self.names, self.weights)[0]
        committer = GITHUB if via_pr else author
        raw = message.encode()
        parts = [f"commit {ref}\nmark :{self.marks}\n"
                 f"author {author[0]} <{author[1]}> {self.clock} {author[2]}\n"
                 f"committer {committer[0]} <{committer[1]}> {self.clock} {committer[2]}\n".encode(),
                 b"data %d\n" % len(raw), raw, b"\n"]
        if parent:
            parts.append(b"from :%d\n" % parent)
        if merge:
            parts.append(b"merge :%d\n" % merge)
        for path, text in changes.items():
            data = text.encode()
            parts += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
        parts.append(b"\n")
        self.out.write(b"".join(parts))
        if ref == "refs/heads/main":
            self.main_tip = self.marks
        return self.marks

    def sha(self, mark: int) -> str:
        self.out.write(b"get-mark :%d\n" % mark)
        self.out.flush()
        return self.answers.readline().decode().strip()

    def tag(self, name: str, mark: int, message: str) -> None:
        self.tags += 1
        raw = message.encode()
        when = self.clock + 30  # after its commit, before the next one (gaps are at least 120 s)
        self.out.write(f"tag {name}\nfrom :{mark}\ntagger {RELEASER[0]} <{RELEASER[1]}> {when} {RELEASER[2]}\n"
                       f"data {len(raw)}\n".encode() + raw + b"\n")


def _pyproject(version: str) -> str:
    return f'[project]\nname = "audiolab-plugin"\nversion = "{version}"\n'


def _plan(commits: int, tag_every: int, untagged_tail: int) -> dict[int, int]:
    """Commit number -> release number (1-based); a negative number marks that release's candidate."""
    last = commits - untagged_tail
    if tag_every <= 0 or last <= 0:
        return {}
    points = list(range(tag_every, last + 1, tag_every))
    if not points or points[-1] != last:
        points.append(last)  # exactly `untagged_tail` commits follow the final tag
    plan = {n: i for i, n in enumerate([p for p in points if p > 1], 1)}  # commit 1 is the initial commit
    for n, i in list(plan.items()):
        if i % 10 == 0 and n - 3 > 1 and n - 3 not in plan and tag_every >= 8:  # about every 10th release
            plan[n - 3] = -i
    return plan


def build(dest: Path, commits: int, tag_every: int, untagged_tail: int = 0, seed: int = 1, merge_every: int = 40,
          initial: str = "0.1.0") -> None:
    """Create `dest` as a git repository holding `commits` commits on `main`, tagged as described in the docstring."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", initial):
        raise ValueError(f"--initial must be X.Y.Z, got {initial!r}")
    if commits < 1 or untagged_tail < 0 or untagged_tail >= commits:
        raise ValueError("need commits >= 1 and 0 <= untagged tail < commits")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(dest)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    proc = subprocess.Popen([*git, "fast-import", "--quiet", "--date-format=raw", "--done"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 20)
    try:
        _write(_History(proc, random.Random(seed)), commits, _plan(commits, tag_every, untagged_tail),
               merge_every, tuple(int(x) for x in initial.split(".")))
        assert proc.stdin is not None
        proc.stdin.write(b"done\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass  # fast-import died; its own message is on stderr and the return code says so
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed with exit code {proc.returncode} in {dest}")
    subprocess.run([*git, "update-ref", "-d", "refs/heads/_side"], check=True)  # merged; a real repo deletes it
    subprocess.run([*git, "reset", "--hard", "-q"], check=True)


def _write(h: _History, commits: int, plan: dict[int, int], merge_every: int, initial: tuple[int, ...]) -> None:
    rng = h.rng
    version: tuple[int, ...] = ()  # the last release's
    candidate: tuple[int, ...] = ()  # set by a release candidate until its release
    reserved = sorted(plan)  # commit numbers at which no feature branch may be open
    side: dict[str, str] = {}  # the open feature branch's file changes
    side_name, side_title, side_left, side_tip, main_between = "", "", 0, 0, 0
    next_side = rng.randint(merge_every // 2, merge_every * 3 // 2) if merge_every > 0 else commits + 1
    while h.count < commits:
        n = h.count + 1  # the number of the commit about to be written
        while reserved and reserved[0] < n:
            reserved.pop(0)
        release = plan.get(n)
        if n == 1:
            files = {"README.md": "# AudioLab plugin\n", "pyproject.toml": _pyproject("0.0.0"), ".gitignore": "build/\n"}
            h.commit("refs/heads/main", "Initial commit\n", files)
        elif release:
            if not candidate:
                candidate = _bump(version, h.level) if version else initial
            name = ".".join(map(str, candidate)) + ("-rc.1" if release < 0 else "")
            mark = h.commit("refs/heads/main", f"chore(release): {name}\n", {"pyproject.toml": _pyproject(name)},
                            who=RELEASER)
            h.tag(f"v{name}", mark, f"Release v{name}\n")
            if release > 0:
                version, candidate, h.level = candidate, (), 0
        elif side_name and side_left and (main_between >= 2 or rng.random() < 0.6):
            message, level, _ = h.message(("feat", "fix", "test", "refactor"))
            side_title = side_title or message.splitlines()[0]
            path = f"features/file_{rng.randrange(20)}.txt"
            side[path] = f"{side_name} {n}\n"
            side_tip = h.commit("refs/heads/_side", message, {path: side[path]}, level,
                                parent=0 if side_tip else h.main_tip)  # the first one forks from main
            side_left -= 1
        elif side_name and not side_left:  # merge: replay the branch's changes onto main's tree
            if rng.random() < 0.5:
                user = rng.choice(PEOPLE)[1].split("@")[0]
                message, via_pr = f"Merge pull request #{h.number()} from {user}/{side_name}\n\n{side_title}\n", True
            else:
                message, via_pr = f"Merge branch '{side_name}'\n", False
            h.commit("refs/heads/main", message, side, via_pr=via_pr, merge=side_tip)
            h.merges += 1
            side_name, side_title, side, side_tip = "", "", {}, 0
        elif not side_name and n >= next_side and commits - n > 7 and not (reserved and reserved[0] - n <= 7):
            side_name = "feature/" + rng.choice(THINGS).replace("the ", "").replace(" ", "-").replace("/", "-").lower()
            side_left, main_between = rng.randint(2, 3), 0
            next_side = n + rng.randint(merge_every // 2, merge_every * 3 // 2)
        else:
            main_between += 1
            if candidate:  # between a release candidate and its release: nothing that would change its version
                message, level, via_pr = h.message(STABLE_TYPES)
            elif h.features and rng.random() < 0.004:
                mark, header = rng.choice(h.features)
                message, level, via_pr = f'Revert "{header}"\n\nThis reverts commit {h.sha(mark)}.\n', 1, False
            else:
                message, level, via_pr = h.message()
            header = message.splitlines()[0]
            mark = h.commit("refs/heads/main", message, {f"src/file_{n % FILES}.txt": f"{n}\n{header}\n"}, level,
                            via_pr)
            if header.startswith("feat"):
                h.features = h.features[-19:] + [(mark, header)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_repo.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", type=Path, help="directory to create (must not exist, or be empty)")
    parser.add_argument("--commits", type=int, default=1000, help="commits on main, merges included (default 1000)")
    parser.add_argument("--tag-every", type=int, default=50, help="a release every N commits; 0 for none")
    parser.add_argument("--untagged-tail", type=int, default=0, help="commits after the final tag (default 0)")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same shas (default 1)")
    parser.add_argument("--merge-every", type=int, default=40, help="a merged feature branch every ~N commits")
    parser.add_argument("--initial", default="0.1.0", help="version of the first release (default 0.1.0)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        build(args.dest, args.commits, args.tag_every, args.untagged_tail, args.seed, args.merge_every, args.initial)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tags = subprocess.run(["git", "-C", str(args.dest), "tag"], capture_output=True, text=True, check=True)
    print(f"make_repo: {args.commits} commits, {len(tags.stdout.split())} tags in {args.dest} "
          f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
