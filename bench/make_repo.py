"""Build a large, realistic git repository in seconds, for benchmarks.

The version bumper and the changelog generator are benchmarked against commitizen and git-cliff
on histories of 100,000 commits. One `git commit` per commit would take an hour, so the whole
history is streamed to a single `git fast-import` process instead. It looks like a real plugin
project's: Conventional Commits with scopes, bodies, footers, `!` and BREAKING CHANGE, PR numbers,
some non-conventional messages, reverts naming the reverted sha, merged feature branches, release
commits with annotated SemVer tags and the odd release candidate. Same seed, same shas.
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


def _list(text: str) -> list[str]:
    return text.split("|")


START = 1_577_836_800  # 2020-01-01T00:00:00Z
FILES = 200  # main-line commits cycle through src/file_<n>.txt, so the tree stays small
MAIN, SIDE = "refs/heads/main", "refs/heads/_side"  # _side is deleted after the import
# A few people write most of the commits, as in real projects: name|email|timezone|weight
PEOPLE = [
    (name, email, tz, int(weight))
    for name, email, tz, weight in map(
        _list,
        """Ada Lindqvist|ada@audiolab.dev|+0100|9
Bruno Ferreira|bruno.ferreira@gmail.com|-0300|7
Chen Wei|chen.wei@audiolab.dev|+0800|6
Dana Kowalski|dana@kowalski.pl|+0200|4
Émile Girard|emile.girard@audiolab.dev|+0100|3
Farah Haddad|farah.h@outlook.com|+0400|2
Gus O'Neill|gus@oneill.ie|+0000|2
Hiro Tanaka|h.tanaka@audiolab.dev|+0900|2
Isabel Ruiz|isabel@ruiz.mx|-0600|1
Jonas Müller|jonas.mueller@posteo.de|+0100|1
Kavya Rao|kavya.rao@audiolab.dev|+0530|1
Liam Brooks|liambrooks@users.noreply.github.com|-0700|1""".splitlines(),
    )
]
RELEASER = ("AudioLab Release Bot", "release-bot@audiolab.dev", "+0000")
GITHUB = ("GitHub", "noreply@github.com", "+0000")  # committer of squash-merged pull requests
VERBS = {  # commit type -> (weight, how its subjects start)
    "feat": (24, _list("add|support|expose|implement|introduce")),
    "fix": (30, _list("handle|prevent crash in|correct|avoid clicks in|restore")),
    "docs": (8, _list("document|clarify|add an example for")),
    "refactor": (8, _list("simplify|extract|split up|clean up")),
    "perf": (3, _list("speed up|cache|vectorize|avoid allocations in")),
    "test": (6, _list("cover|add a regression test for|stabilize tests for")),
    "build": (4, _list("bump JUCE for|update CMake for|pin the toolchain for")),
    "ci": (4, _list("run nightly builds for|cache builds for|add a macOS job for")),
    "chore": (10, _list("tidy|update copyright in|remove dead code in")),
    "style": (3, _list("reformat|fix lint in")),
}
TYPES, WEIGHTS = list(VERBS), [weight for weight, _ in VERBS.values()]
STABLE = ("fix", "docs", "test", "chore")  # between a release candidate and its release
SCOPES = _list("dsp|ui|preset|host|installer|vst3|au|midi|gui|build|clap")
THINGS = _list(
    "oversampling|preset browser search|sidechain input|MIDI learn|undo history|tempo sync|"
    "parameter smoothing|dark theme|sample-rate changes|latency reporting|state restore|"
    "window scaling|license check|bypass handling|meter ballistics|factory presets|"
    "denormal flushing|the wet/dry mix|the installer license page|automation gestures"
)
BODY = _list(
    "The previous implementation allocated on the audio thread.|"
    "Hosts that reorder parameters now work.|This matches what Logic and Ableton expect.|"
    "Reported by several users on the forum.|Measured 12% less CPU in the reference session.|"
    "No user-visible change.|The old behaviour is kept behind a flag for one release.|"
    "Tested in Reaper, Bitwig and Cubase."
)
ODD = _list(  # non-conventional messages slip through in every real project
    "Update README.md|WIP|fix typo|Tweak knob colours|more logging|Bump JUCE submodule|"
    "address review comments|oops"
)
BREAKS = _list(
    "preset files from 1.x are no longer read|the `gain` parameter ID changed|"
    "macOS 10.13 is no longer supported|the VST2 build is gone|plugin state has a new format"
)


def bump(version: tuple[int, ...], level: int) -> tuple[int, ...]:
    """SemVer from the highest change since the last release: 3 breaking, 2 feature, 1 other."""
    major, minor, patch = version
    if level == 3 and major > 0:
        return major + 1, 0, 0
    if level >= 2:  # a breaking change bumps minor while major is 0 (SemVer item 4)
        return major, minor + 1, 0
    return major, minor, patch + 1


def plan(commits: int, tag_every: int, untagged_tail: int) -> dict[int, int]:
    """Commit number (from 1) -> release number (from 1), negated for a release candidate."""
    last = commits - untagged_tail
    points = list(range(tag_every, last + 1, tag_every)) if tag_every > 0 else []
    if points and points[-1] != last:
        points.append(last)  # exactly `untagged_tail` commits follow the final tag
    points = [1] + [p for p in points if p > 1]  # commit 1 is the root, never a release
    releases = {n: i for i, n in enumerate(points[1:], 1)}
    for i in range(10, len(points), 10):  # every 10th release has a candidate 3 commits before
        if points[i] - 3 > points[i - 1]:
            releases[points[i] - 3] = -i
    return releases


class _Importer:
    """Writes commits and tags to fast-import's stdin; tracks marks, time and the next version."""

    def __init__(self, proc: subprocess.Popen[bytes], seed: int) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.out: IO[bytes] = proc.stdin
        self.answers: IO[bytes] = proc.stdout  # get-mark answers arrive on stdout
        self.rng = random.Random(seed)
        self.marks = self.main_tip = 0
        self.clock = START
        self.issue = 40  # PR and issue numbers grow with the project
        self.level = 0  # highest change since the last release
        self.features: list[tuple[int, str]] = []  # recent main-line (mark, header), to revert

    def number(self) -> int:
        self.issue += self.rng.choice((0, 1, 1, 2, 3))
        return self.rng.randint(max(1, self.issue - 60), self.issue)

    def person(self) -> tuple[str, str, str]:
        name, email, tz, _ = self.rng.choices(PEOPLE, [p[3] for p in PEOPLE])[0]
        return name, email, tz

    def message(self, types: Sequence[str] = ()) -> tuple[str, int, bool]:
        """A commit message, its release level, and whether a GitHub PR squash-merged it."""
        rng = self.rng
        if not types and rng.random() < 0.025:
            return rng.choice(ODD) + "\n", 1, False
        kind = rng.choice(types) if types else rng.choices(TYPES, WEIGHTS)[0]
        scope = f"({rng.choice(SCOPES)})" if rng.random() < 0.6 else ""
        # ~2% of all commits: 3.5% of the feat, fix, refactor and perf ones
        risky = kind in ("feat", "fix", "refactor", "perf")
        breaking = not types and risky and rng.random() < 0.035
        bang = "!" if breaking and rng.random() < 0.5 else ""
        subject = f"{rng.choice(VERBS[kind][1])} {rng.choice(THINGS)}"
        via_pr = rng.random() < 0.15
        if via_pr:
            subject += f" (#{self.number()})"
        paragraphs = [f"{kind}{scope}{bang}: {subject}"]
        if rng.random() < 0.3:
            paragraphs.append(" ".join(rng.sample(BODY, rng.randint(1, 3))))
        footers = []
        if breaking and (not bang or rng.random() < 0.3):
            footers.append(f"BREAKING CHANGE: {rng.choice(BREAKS)}")
        if rng.random() < 0.1:
            footers.append(f"Refs: #{self.number()}")
        if rng.random() < 0.08:
            footers.append(f"Closes: #{self.number()}")
        if kind in ("feat", "fix") and rng.random() < 0.1:
            footers.append(f"Changelog: {subject[0].upper()}{subject[1:]}")
        trailers = ("Reviewed-by", 0.1), ("Co-authored-by", 0.03), ("Signed-off-by", 0.05)
        for token, chance in trailers:
            if rng.random() < chance:
                name, email, _ = self.person()
                footers.append(f"{token}: {name} <{email}>")
        if footers:
            paragraphs.append("\n".join(footers))
        level = 3 if breaking else 2 if kind == "feat" else 1
        return "\n\n".join(paragraphs) + "\n", level, via_pr

    def commit(self, ref: str, message: str, files: dict[str, str], level: int = 1, *,
               via_pr: bool = False, parent: int = 0, merge: int = 0,
               author: tuple[str, str, str] | None = None) -> int:  # fmt: skip
        self.marks += 1
        self.clock += self.rng.randint(120, 2280)  # about 20 minutes apart, strictly increasing
        self.level = max(self.level, level)
        author = author or self.person()
        committer = GITHUB if via_pr else author
        raw = message.encode()
        parts = [
            f"commit {ref}\nmark :{self.marks}\n"
            f"author {author[0]} <{author[1]}> {self.clock} {author[2]}\n"
            f"committer {committer[0]} <{committer[1]}> {self.clock} {committer[2]}\n"
            f"data {len(raw)}\n".encode(),
            raw,
            b"\n",
        ]
        if parent:
            parts.append(b"from :%d\n" % parent)
        if merge:
            parts.append(b"merge :%d\n" % merge)
        for path, text in files.items():
            data = text.encode()
            parts += [f"M 100644 inline {path}\ndata {len(data)}\n".encode(), data, b"\n"]
        self.out.write(b"".join(parts) + b"\n")
        if ref == MAIN:
            self.main_tip = self.marks
        return self.marks

    def sha(self, mark: int) -> str:
        self.out.write(b"get-mark :%d\n" % mark)
        self.out.flush()
        return self.answers.readline().decode().strip()

    def tag(self, name: str, mark: int, message: str) -> None:
        raw = message.encode()
        name_, email, tz = RELEASER
        when = self.clock + 30  # after its commit, before the next (gaps are at least 120 s)
        head = f"tag {name}\nfrom :{mark}\ntagger {name_} <{email}> {when} {tz}\ndata {len(raw)}\n"
        self.out.write(head.encode() + raw + b"\n")


def _pyproject(version: str) -> str:
    return f'[project]\nname = "audiolab-plugin"\nversion = "{version}"\n'


def _history(imp: _Importer, commits: int, releases: dict[int, int], merge_every: int,
             initial: tuple[int, ...]) -> None:  # fmt: skip
    """Stream every commit and tag; `n` counts commits on all branches, merges included."""
    rng = imp.rng
    version: tuple[int, ...] = ()  # the last release's
    candidate: tuple[int, ...] = ()  # from a release candidate until its release
    reserved = sorted(releases)  # no feature branch may be open at a release
    branch, title, left, tip, between = "", "", 0, 0, 0  # the open feature branch
    changes: dict[str, str] = {}  # its files, replayed in the merge commit's tree
    next_branch = rng.randint(merge_every // 2, merge_every * 3 // 2) if merge_every else commits
    n = 1
    imp.commit(MAIN, "Initial commit\n", {"README.md": "# AudioLab plugin\n",
               "pyproject.toml": _pyproject("0.0.0"), ".gitignore": "build/\n"})  # fmt: skip
    while n < commits:
        n += 1
        while reserved and reserved[0] < n:
            reserved.pop(0)
        release = releases.get(n)
        if release:
            if not candidate:
                candidate = bump(version, imp.level) if version else initial
            name = ".".join(map(str, candidate)) + ("-rc.1" if release < 0 else "")
            files = {"pyproject.toml": _pyproject(name)}
            mark = imp.commit(MAIN, f"chore(release): {name}\n", files, author=RELEASER)
            imp.tag(f"v{name}", mark, f"Release v{name}\n")
            if release > 0:
                version, candidate, imp.level = candidate, (), 0
            continue
        if not branch and n >= next_branch and n + 7 < min(reserved[:1] + [commits]):
            branch = "feature/" + re.sub(r"\W+", "-", rng.choice(THINGS).lower())
            left, between = rng.randint(2, 3), 0
            next_branch = n + rng.randint(merge_every // 2, merge_every * 3 // 2)
        if branch and left and (between >= 2 or rng.random() < 0.6):  # a feature-branch commit
            message, level, _ = imp.message(("feat", "fix", "test", "refactor"))
            title = title or message.splitlines()[0]
            path = f"features/file_{rng.randrange(20)}.txt"
            changes[path] = f"{branch} {n}\n"
            fork = 0 if tip else imp.main_tip
            tip = imp.commit(SIDE, message, {path: changes[path]}, level, parent=fork)
            left -= 1
        elif branch and not left:
            if rng.random() < 0.5:
                user = rng.choice(PEOPLE)[1].split("@")[0]
                message = f"Merge pull request #{imp.number()} from {user}/{branch}\n\n{title}\n"
                imp.commit(MAIN, message, changes, via_pr=True, merge=tip)
            else:
                imp.commit(MAIN, f"Merge branch '{branch}'\n", changes, merge=tip)
            branch, title, changes, tip = "", "", {}, 0
        else:
            between += 1
            if candidate:  # stabilizing: nothing that would change the candidate's version
                message, level, via_pr = imp.message(STABLE)
            elif imp.features and rng.random() < 0.004:
                mark, header = rng.choice(imp.features)
                message, level = f'Revert "{header}"\n\nThis reverts commit {imp.sha(mark)}.\n', 1
                via_pr = False
            else:
                message, level, via_pr = imp.message()
            header = message.splitlines()[0]
            files = {f"src/file_{n % FILES}.txt": f"{n}\n{header}\n"}
            mark = imp.commit(MAIN, message, files, level, via_pr=via_pr)
            if header.startswith("feat"):
                imp.features = imp.features[-19:] + [(mark, header)]


def build(dest: Path, commits: int, tag_every: int, untagged_tail: int = 0, seed: int = 1,
          merge_every: int = 40, initial: str = "0.1.0") -> None:  # fmt: skip
    """Create `dest`: `commits` commits on `main`, a release tag every `tag_every` of them."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", initial):
        raise ValueError(f"initial version must be X.Y.Z, not {initial!r}")
    if commits < 1 or not 0 <= untagged_tail < commits or tag_every < 0 or merge_every < 0:
        raise ValueError("need commits >= 1, 0 <= untagged tail < commits, no negative counts")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    dest.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(dest)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    args = [*git, "fast-import", "--quiet", "--date-format=raw", "--done"]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=1 << 20)
    assert proc.stdin is not None
    try:
        releases = plan(commits, tag_every, untagged_tail)
        version = tuple(int(part) for part in initial.split("."))
        _history(_Importer(proc, seed), commits, releases, merge_every, version)
        proc.stdin.write(b"done\n")
        proc.stdin.close()
    except BrokenPipeError:
        pass  # fast-import died; it said why on stderr and its exit code is checked below
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import exited {proc.returncode} in {dest}")
    subprocess.run([*git, "update-ref", "-d", SIDE], check=True)  # merged: a real repo drops it
    subprocess.run([*git, "reset", "--hard", "-q"], check=True)


def main(argv: Sequence[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="make_repo.py", description=__doc__, formatter_class=formatter
    )
    parser.add_argument("dest", type=Path, help="directory to create: must not exist, or be empty")
    parser.add_argument("--commits", type=int, default=1000, help="all commits, merges included")
    parser.add_argument("--tag-every", type=int, default=50, help="a release every N commits")
    parser.add_argument("--untagged-tail", type=int, default=0, help="commits after the final tag")
    parser.add_argument("--seed", type=int, default=1, help="same seed, same shas")
    parser.add_argument("--merge-every", type=int, default=40, help="a merge every ~N commits")
    parser.add_argument("--initial", default="0.1.0", help="the first release's version")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        build(args.dest, args.commits, args.tag_every, args.untagged_tail, args.seed,
              args.merge_every, args.initial)  # fmt: skip
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    tags = subprocess.run(["git", "-C", str(args.dest), "tag"], capture_output=True, check=True)
    seconds = time.perf_counter() - started
    print(f"make_repo: {args.commits} commits, {len(tags.stdout.split())} tags, {seconds:.1f} s:"
          f" {args.dest}", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
