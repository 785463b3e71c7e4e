"""release-metrics' one-pass graph gives git's own answers: ranges, hotfix branches, fixes after each release.

The reference below asks git per release, as release-metrics did before issue 14 (`git log prev..tag`,
`for-each-ref --contains`, `git log --all ^tag`); random histories with branches, merges, skewed clocks, tags out
of ancestry order, annotated and lightweight tags and remote hotfix branches must give the same numbers.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
from releng import commits, git
from releng.validation import metric_sources, release_graph

DAY = 86400
T0 = 1_700_000_000
TYPES = ["fix", "fix", "Fix", "feat", "chore", "fix(ui)!", "docs", "FIX(dsp)"]


def random_history(path: Path, seed: int, size: int = 90) -> None:
    """A made-up history streamed to `git fast-import`: the same seed, the same shas."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out: list[str] = []
    tips: dict[str, int] = {}
    at = T0
    versions = [0, 1, 0]
    mark = 0

    def commit(branch: str, message: str, parents: list[int]) -> int:
        nonlocal mark, at
        mark += 1
        at += rng.randint(600, DAY)
        when = at - rng.randint(2 * DAY, 9 * DAY) if rng.random() < 0.1 else at  # a skewed clock
        data = message.encode()
        out.append(f"commit refs/heads/{branch}\nmark :{mark}\ncommitter T <t@example> {when} +0000\n"
                   f"data {len(data)}\n{message}\n")
        if parents:
            out.append(f"from :{parents[0]}\n" + "".join(f"merge :{p}\n" for p in parents[1:]))
        out.append("\n")
        tips[branch] = mark
        return mark

    commit("main", "feat: first light", [])
    for _ in range(size):
        roll = rng.random()
        branch = rng.choice(sorted(tips))
        if roll < 0.12:
            kind = rng.choice(["hotfix/1.{}.{}", "hotfix/urgent", "feature/x{}{}", "hotfix/2.{}.{}"])
            name = kind.format(rng.randint(0, 3), rng.randint(0, 3))
            start = rng.randint(1, mark)
            commit(name, f"{rng.choice(TYPES)}: on {name}", [start])
        elif roll < 0.25 and len(tips) > 1:
            other = rng.choice([b for b in sorted(tips) if b != branch])
            message = f"Merge branch '{other}' into {branch}\n\nfrom {other}"
            commit(branch, message, [tips[branch], tips[other]])
        else:
            commit(branch, f"{rng.choice(TYPES)}: change {mark}\n\nbody", [tips[branch]])
        if rng.random() < 0.2:
            part = rng.choice([0, 1, 2, 2, 2])
            versions = [*versions[:part], versions[part] + 1, *[0] * (2 - part)]
            name = "v" + ".".join(map(str, versions)) + ("-rc.1" if rng.random() < 0.1 else "")
            target = rng.choice([tips[branch], rng.randint(1, mark)])
            if rng.random() < 0.5:
                message = rng.choice(["release", "hotfix release", "Release notes"]).encode()
                out.append(f"tag {name}\nfrom :{target}\ntagger T <t@example> {at + rng.randint(-DAY, DAY)} +0000\n"
                           f"data {len(message)}\n{message.decode()}\n")
            else:
                out.append(f"reset refs/tags/{name}\nfrom :{target}\n\n")
    for name in [b for b in tips if b.startswith("hotfix/")][:2]:  # a remote's copy, as after a fetch
        out.append(f"reset refs/remotes/origin/{name}\nfrom :{tips[name]}\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input="".join(out).encode(), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)


def reference(repo: Path, window: int) -> list[tuple]:
    """What git says per final release: (tag, commits, first commit time, hotfix branch, hotfix merges, fixes)."""
    finals = [t for t in git.tags(repo) if not t.version.is_prerelease]
    rows, previous = [], None
    for tag in finals:
        revs = [f"refs/tags/{previous.name}..refs/tags/{tag.name}"] if previous else [f"refs/tags/{tag.name}"]
        entries = list(git.log(repo, revs))
        branch = None
        if tag.version.patch > 0:
            out = git.run(repo, "for-each-ref", f"--contains={tag.commit}", "--format=%(refname:strip=2)",
                          "refs/heads/", "refs/remotes/")
            core = str(tag.version.core)
            branch = next((b for b in out.split("\n") if b and metric_sources._HOTFIX_REF.search(b)
                           and metric_sources._VERSION_IN_NAME.findall(b) in ([], [core])), None)
        merges = frozenset(commits.subject(e.message) for e in entries if e.is_merge and "hotfix/" in e.message)
        fixes = set()
        for e in git.log(repo, ["--all", f"^refs/tags/{tag.name}"], "--no-merges"):
            header = commits.HEADER.fullmatch(commits.subject(e.message))
            if tag.timestamp <= e.timestamp <= tag.timestamp + window and header and header["type"].lower() == "fix":
                fixes.add(e.sha)
        rows.append((tag.name, len(entries), min((e.timestamp for e in entries), default=None), branch,
                     merges if tag.version.patch > 0 else frozenset(), fixes))
        previous = tag
    return rows


@pytest.mark.parametrize("seed", range(12))
def test_one_pass_gives_what_git_gives_per_release(tmp_path, seed):
    repo = tmp_path / "repo"
    random_history(repo, seed)
    window = 5 * DAY
    releases, fixes, _ = metric_sources.read_releases(repo, "v", ("fix",), window)
    expected = reference(repo, window)
    assert len(releases) == len(expected) > 0
    owner: dict[str, tuple[int, str]] = {}  # each fix counted once: for the newest release (tag time) it followed
    for r, row in zip(releases, expected, strict=True):
        for sha in row[5]:
            if sha not in owner or r.at > owner[sha][0]:
                owner[sha] = (r.at, r.version)
    for r, (tag, count, first, branch, merges, after) in zip(releases, expected, strict=True):
        fixed = {sha for sha in after if owner[sha][1] == r.version}
        assert (r.tag, r.commits, r.first_commit_at) == (tag, count, first)
        signals = dict(s.split(" ", 1) if not s.startswith("tag ") else ("tag", s) for s in r.hotfix_signals)
        assert signals.get("on") == (f"branch {branch}" if branch else None), tag
        assert (signals.get("merge:") in merges) if merges else "merge:" not in signals, tag
        assert {f.sha for f in fixes[r.version]} == fixed, tag


def test_generations_survive_a_log_in_no_topological_order():
    # 0 <- 1 <- 2 listed oldest first (as skewed clocks can make git list a parent before its child)
    parents = [(), (0,), (1,), (0, 2)]
    assert release_graph._generations(parents) == release_graph._generations_dfs(parents) == [1, 2, 3, 4]
    assert release_graph._generations([(1,), (2,), ()]) == [3, 2, 1]


def test_range_excludes_what_the_other_side_reaches(git_repo):
    r = git_repo
    r.commit("feat: a")
    base = r.git("rev-parse", "HEAD").strip()
    r.git("checkout", "-q", "-b", "side")
    r.commit("fix: side")
    side = r.git("rev-parse", "HEAD").strip()
    r.git("checkout", "-q", "main")
    r.commit("feat: b")
    r.git("merge", "-q", "--no-ff", "--no-edit", "side")
    head = r.git("rev-parse", "HEAD").strip()
    g = release_graph.Graph(git.log(r.path, ["--all"]), ("fix",))
    at = g.index
    assert sorted(g.shas[c] for c in g.range(at[head], at[side])) == sorted(
        r.git("rev-list", f"{side}..{head}").split())
    assert g.range(at[side], at[head]) == [] and g.range(at[head], at[head]) == []
    assert len(g.range(at[head], None)) == 4
    assert g.reached(at[head], [at[base], at[side]]) == {at[base], at[side]}
    assert g.reached(at[side], [at[head]]) == set()
