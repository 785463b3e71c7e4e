"""releng.semver: parsing, precedence and bumps against semver.org's own examples and an independent oracle."""

from __future__ import annotations

import functools
import importlib
import itertools
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from releng import semver
from releng.errors import BadInput

# semver.org's suggested regex (the "named groups" one without names), made ASCII-only and anchored with \Z so
# that it is an independent oracle for is_valid(): Python's \d and $ would accept Unicode digits and a final "\n".
OFFICIAL = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z",
    re.ASCII,
)

# https://regex101.com/r/Ly7O1x/3/ : the test strings semver.org links from its FAQ.
VALID = [
    "0.0.4",
    "1.2.3",
    "10.20.30",
    "1.1.2-prerelease+meta",
    "1.1.2+meta",
    "1.1.2+meta-valid",
    "1.0.0-alpha",
    "1.0.0-beta",
    "1.0.0-alpha.beta",
    "1.0.0-alpha.beta.1",
    "1.0.0-alpha.1",
    "1.0.0-alpha0.valid",
    "1.0.0-alpha.0valid",
    "1.0.0-alpha-a.b-c-somethinglong+build.1-aef.1-its-okay",
    "1.0.0-rc.1+build.1",
    "2.0.0-rc.1+build.123",
    "1.2.3-beta",
    "10.2.3-DEV-SNAPSHOT",
    "1.2.3-SNAPSHOT-123",
    "1.0.0",
    "2.0.0",
    "1.1.7",
    "2.0.0+build.1848",
    "2.0.1-alpha.1227",
    "1.0.0-alpha+beta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
    "1.2.3----R-S.12.9.1--.12+meta",
    "1.2.3----RC-SNAPSHOT.12.9.1--.12",
    "1.0.0+0.build.1-rc.10000aaa-kk-0.1",
    "99999999999999999999999.999999999999999999.99999999999999999",
    "1.0.0-0A.is.legal",
    # and a few more edges of the grammar
    "0.0.0",
    "0.0.0-0",
    "1.0.0-x.7.z.92",
    "1.0.0+20130313144700",
    "1.0.0-beta+exp.sha.5114f85",
    "1.0.0+21AF26D3----117B344092BD",
    "1.0.0+001",  # leading zeros are fine in build metadata
    "1.0.0-0a",  # digits then a letter: alphanumeric, so a leading zero is fine
    "1.0.0--",  # a hyphen alone is an alphanumeric identifier
    "1.0.0-a.-.0",
]

INVALID = [
    "1",
    "1.2",
    "1.2.3-0123",
    "1.2.3-0123.0123",
    "1.1.2+.123",
    "+invalid",
    "-invalid",
    "-invalid+invalid",
    "-invalid.01",
    "alpha",
    "alpha.beta",
    "alpha.beta.1",
    "alpha.1",
    "alpha+beta",
    "alpha_beta",
    "alpha.",
    "alpha..",
    "beta",
    "1.0.0-alpha_beta",
    "-alpha.",
    "1.0.0-alpha..",
    "1.0.0-alpha..1",
    "1.0.0-alpha...1",
    "1.0.0-alpha....1",
    "1.0.0-alpha.....1",
    "1.0.0-alpha......1",
    "1.0.0-alpha.......1",
    "01.1.1",
    "1.01.1",
    "1.1.01",
    "1.2.3.DEV",
    "1.2-SNAPSHOT",
    "1.2.31.2.3----RC-SNAPSHOT.12.09.1--..12+788",
    "1.2-RC-SNAPSHOT",
    "-1.0.3-gamma+b7718",
    "+justmeta",
    "9.8.7+meta+meta",
    "9.8.7-whatever+meta+meta",
    "99999999999999999999999.999999999999999999.99999999999999999----RC-SNAPSHOT.12.09.1--------------------------------..12",
    # not in that list, but just as wrong
    "1.2.3-",
    "1.2.3+",
    "1.2.3-+b",
    "1.2.3-a+",
    "1.2.3-a.",
    "1.2.3-.a",
    "1.2.3+a..b",
    "v1.2.3",
    "V1.2.3",
    "=1.2.3",
    "v",
    "",
    " 1.2.3",
    "1.2.3 ",
    "1.2.3\n",
    "1.2.3\r\n",
    "\n1.2.3",
    "1.2.3.4",
    "1..2.3",
    "1.2.3-01",
    "1.2.3-00",
    "1.2.3-a.00",
    "-1.2.3",
    "1.-2.3",
    "+1.2.3",
    "1.2.+3",
    "1.2.3-é",
    "1.2.3+é",
    "１.2.3",  # FULLWIDTH DIGIT ONE
    "1.2.٣",  # ARABIC-INDIC DIGIT THREE
    "1.2.3-٣",
    "1.2.3+٣",
    "1.2.3-\u0660",
    "1.2.3\x00",
    "1_000.0.0",
]

# Spec item 11's example: each element has lower precedence than the next.
PRECEDENCE_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text: str) -> None:
    assert OFFICIAL.fullmatch(text), "the oracle disagrees with the table"
    assert semver.is_valid(text)
    assert str(semver.parse(text)) == text
    assert str(semver.try_parse(text)) == text


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text: str) -> None:
    assert not OFFICIAL.fullmatch(text), "the oracle disagrees with the table"
    assert not semver.is_valid(text)
    assert semver.try_parse(text) is None
    with pytest.raises(BadInput, match="not a SemVer 2.0.0 version") as info:
        semver.parse(text, "VERSION")
    assert info.value.where == "VERSION"
    assert repr(text) in info.value.what


@pytest.mark.parametrize("value", [None, 1, b"1.2.3", ("1", "2", "3")])
def test_parse_refuses_non_strings(value: object) -> None:
    with pytest.raises(BadInput):
        semver.parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "major", "minor", "patch", "prerelease", "build"),
    [
        ("1.2.3", 1, 2, 3, (), ()),
        ("0.0.0", 0, 0, 0, (), ()),
        ("1.0.0-alpha.1", 1, 0, 0, ("alpha", 1), ()),
        ("1.0.0-0A.is.legal", 1, 0, 0, ("0A", "is", "legal"), ()),
        ("1.0.0-x.7.z.92+b.01", 1, 0, 0, ("x", 7, "z", 92), ("b", "01")),
        ("2.0.0+build.1848", 2, 0, 0, (), ("build", "1848")),
        ("1.2.3----RC-SNAPSHOT.12.9.1--.12+788", 1, 2, 3, ("---RC-SNAPSHOT", 12, 9, "1--", 12), ("788",)),
        ("1.0.0-alpha-a.b-c", 1, 0, 0, ("alpha-a", "b-c"), ()),
    ],
)
def test_fields(text: str, major: int, minor: int, patch: int, prerelease: tuple[object, ...],
                build: tuple[str, ...]) -> None:
    v = semver.parse(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == (major, minor, patch, prerelease, build)
    assert v.is_prerelease is bool(prerelease)
    assert str(v.core) == f"{major}.{minor}.{patch}"
    assert repr(v) == f"Version({text!r})"


def test_precedence_chain() -> None:
    versions = [semver.parse(t) for t in PRECEDENCE_CHAIN]
    for lower, higher in itertools.pairwise(versions):
        assert lower < higher and higher > lower
        assert lower <= higher and higher >= lower
        assert not lower >= higher and not higher <= lower
        assert lower != higher
        assert semver.compare(lower, higher) == -1
        assert semver.compare(higher, lower) == 1
    # every pair, not just neighbours, and sorting a shuffled copy restores the chain
    for i, a in enumerate(versions):
        for j, b in enumerate(versions):
            assert semver.compare(a, b) == (i > j) - (i < j)
    shuffled = versions[::-1][3:] + versions[::-1][:3]
    assert [str(v) for v in sorted(shuffled)] == PRECEDENCE_CHAIN


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("1.9.0", "1.10.0"),  # numerically, not as text
        ("1.10.0", "1.11.0"),
        ("9.0.0", "10.0.0"),
        ("1.0.0-2", "1.0.0-10"),  # numeric identifiers numerically
        ("1.0.0-10", "1.0.0-a"),  # numeric below alphanumeric
        ("1.0.0-999", "1.0.0--"),
        ("1.0.0-B", "1.0.0-a"),  # ASCII order: uppercase first
        ("1.0.0-a.b", "1.0.0-a-b"),  # "a" is a prefix of "a-b", so lower
        ("1.0.0-alpha10", "1.0.0-alpha9"),  # alphanumeric compares as text
        ("1.0.0-rc.1", "1.0.0-rc.1.0"),  # a longer list of equal prefix is higher
        ("1.0.0-0", "1.0.0"),
        ("0.0.0", "0.0.1"),
        ("1.0.0", "1.0.1-alpha"),  # a prerelease of a higher patch is above the lower release
    ],
)
def test_precedence_pairs(lower: str, higher: str) -> None:
    a, b = semver.parse(lower), semver.parse(higher)
    assert a < b
    assert semver.compare(a, b) == -1 and semver.compare(b, a) == 1


@pytest.mark.parametrize(
    ("a", "b"),
    [("1.0.0+a", "1.0.0+b"), ("1.0.0", "1.0.0+anything.at.all"), ("1.0.0-rc.1+x", "1.0.0-rc.1+y.z")],
)
def test_build_metadata_is_ignored_for_precedence(a: str, b: str) -> None:
    va, vb = semver.parse(a), semver.parse(b)
    assert semver.compare(va, vb) == 0
    assert va == vb
    assert (va != vb) is False
    assert not va < vb and not vb < va and va <= vb and va >= vb
    assert hash(va) == hash(vb) and len({va, vb}) == 1
    assert str(va) == a and str(vb) == b  # but it is kept in the text


def test_equality_with_other_types() -> None:
    v = semver.parse("1.2.3")
    assert v != "1.2.3"
    assert v.__eq__("1.2.3") is NotImplemented


def test_five_thousand_digit_numbers() -> None:
    big = "9" * 5000
    bigger = "1" + "0" * 5000
    v = semver.parse(f"{big}.0.0")
    w = semver.parse(f"{bigger}.0.0")
    x = semver.parse(f"1.{big}.{big}-rc.{big}")
    assert v.major == 10**5000 - 1
    assert str(v) == f"{big}.0.0"
    assert str(x) == f"1.{big}.{big}-rc.{big}"
    assert v < w and semver.compare(w, v) == 1
    assert x.prerelease[1] > 10**4999
    assert semver.parse(f"1.0.0-rc.{big}") > semver.parse(f"1.0.0-rc.{'9' * 4999}")
    assert not semver.is_valid("0" + big + ".0.0")


@pytest.mark.parametrize(
    ("label", "ok"),
    [("rc", True), ("beta", True), ("a-1", True), ("0a", True), ("-", True),
     ("1", False), ("01", False), ("", False), ("a.b", False), ("rc!", False), ("é", False), ("１", False)],
)
def test_is_prerelease_label(label: str, ok: bool) -> None:
    assert semver.is_prerelease_label(label) is ok


# --- the same answers as independent implementations -----------------------------------------------------------

def _spec_compare(a: str, b: str) -> int:
    """Spec item 11 written out from the text, working on the strings: an oracle for compare()."""

    def split(s: str) -> tuple[list[int], list[str]]:
        core = s.split("+", 1)[0]
        nums, _, pre = core.partition("-")
        return [int(n) for n in nums.split(".")], (pre.split(".") if pre else [])

    (na, pa), (nb, pb) = split(a), split(b)
    if na != nb:
        return -1 if na < nb else 1
    if not pa or not pb:
        return (not pa) - (not pb)  # no prerelease is higher
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return -1 if int(x) < int(y) else 1
        if x.isdigit() != y.isdigit():
            return -1 if x.isdigit() else 1
        return -1 if x < y else 1
    return (len(pa) > len(pb)) - (len(pa) < len(pb))


_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
_numbers = st.one_of(st.integers(0, 3), st.integers(0, 10**30))
_alnum_ids = st.text(_ALNUM, min_size=1, max_size=8).filter(lambda s: not s.isdigit())
_pre_ids = st.one_of(_numbers.map(str), _alnum_ids, st.sampled_from(["alpha", "beta", "rc", "0a", "-"]))
_build_ids = st.text(_ALNUM, min_size=1, max_size=8)


@st.composite
def version_strings(draw: st.DrawFn) -> str:
    text = ".".join(str(draw(_numbers)) for _ in range(3))
    pre = draw(st.lists(_pre_ids, max_size=4))
    build = draw(st.lists(_build_ids, max_size=3))
    if pre:
        text += "-" + ".".join(pre)
    if build:
        text += "+" + ".".join(build)
    return text


@settings(max_examples=300, deadline=None)
@given(version_strings())
def test_round_trip(text: str) -> None:
    assert OFFICIAL.fullmatch(text)
    assert str(semver.parse(text)) == text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.+-abAZ_ v١\n", max_size=20))
def test_is_valid_agrees_with_the_official_regex(text: str) -> None:
    assert semver.is_valid(text) == bool(OFFICIAL.fullmatch(text))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version_strings(), version_strings(), version_strings())
def test_compare_is_a_total_preorder(a: str, b: str, c: str) -> None:
    va, vb, vc = semver.parse(a), semver.parse(b), semver.parse(c)
    ab = semver.compare(va, vb)
    assert ab == _spec_compare(a, b)
    assert semver.compare(vb, va) == -ab  # antisymmetric
    assert semver.compare(va, va) == 0  # reflexive
    assert (va < vb) == (ab < 0) and (va == vb) == (ab == 0) and (va > vb) == (ab > 0)
    if ab <= 0 and semver.compare(vb, vc) <= 0:  # transitive
        assert semver.compare(va, vc) <= 0
    # sorting by the operators and by compare() agree position by position (up to equal precedence)
    ordered = sorted([va, vb, vc])
    by_compare = sorted([va, vb, vc], key=functools.cmp_to_key(semver.compare))
    assert all(semver.compare(x, y) == 0 for x, y in zip(ordered, by_compare, strict=True))
    by_oracle = sorted([a, b, c], key=functools.cmp_to_key(_spec_compare))
    assert all(semver.compare(x, semver.parse(y)) == 0 for x, y in zip(ordered, by_oracle, strict=True))
    for x, y in itertools.pairwise(ordered):
        assert semver.compare(x, y) <= 0


@settings(max_examples=200, deadline=None)
@given(version_strings(), version_strings())
def test_same_order_as_the_pypi_semver_library(a: str, b: str) -> None:
    pypi = importlib.import_module("semver")  # PyPI semver, a dev dependency
    assert semver.compare(semver.parse(a), semver.parse(b)) == pypi.Version.parse(a).compare(b)


@pytest.mark.parametrize("text", VALID)
def test_pypi_semver_library_agrees_on_valid(text: str) -> None:
    pypi = importlib.import_module("semver")  # PyPI semver, a dev dependency
    assert str(pypi.Version.parse(text)) == str(semver.parse(text))


# --- bumps -----------------------------------------------------------------------------------------------------

BUMP_TABLE = [
    # plain releases
    ("1.2.3", "major", None, "2.0.0"),
    ("1.2.3", "minor", None, "1.3.0"),
    ("1.2.3", "patch", None, "1.2.4"),
    ("0.0.0", "patch", None, "0.0.1"),
    ("1.2.3+build.7", "patch", None, "1.2.4"),  # build metadata does not survive a bump
    # a release bump on a prerelease finishes it where it already points (npm)
    ("1.3.0-rc.1", "minor", None, "1.3.0"),
    ("1.3.0-rc.1", "patch", None, "1.3.0"),
    ("1.3.0-rc.1", "major", None, "2.0.0"),
    ("1.3.1-rc.1", "minor", None, "1.4.0"),
    ("1.3.1-rc.1", "patch", None, "1.3.1"),
    ("2.0.0-rc.1", "major", None, "2.0.0"),
    ("2.0.0-rc.1", "minor", None, "2.0.0"),
    ("2.1.0-rc.1", "major", None, "3.0.0"),
    ("2.0.1-rc.1", "major", None, "3.0.0"),
    ("1.0.0-rc.2", "release", None, "1.0.0"),
    ("1.0.0-rc.2+b.1", "release", None, "1.0.0"),
    # prerelease counts up, switches label only forwards
    ("1.0.0-rc.1", "prerelease", None, "1.0.0-rc.2"),
    ("1.0.0-rc.1", "prerelease", "rc", "1.0.0-rc.2"),
    ("1.0.0-rc.9", "prerelease", None, "1.0.0-rc.10"),
    ("1.3.0-beta.2", "prerelease", "rc", "1.3.0-rc.1"),
    ("1.3.0-beta.2", "prerelease", "beta", "1.3.0-beta.3"),
    ("1.0.0-alpha", "prerelease", None, "1.0.0-alpha.1"),
    ("1.0.0-alpha.1.beta", "prerelease", None, "1.0.0-alpha.2"),
    ("1.0.0-0", "prerelease", None, "1.0.0-1"),
    ("1.0.0-0", "prerelease", "rc", "1.0.0-rc.1"),
    ("1.0.0-rc.1+b", "prerelease", None, "1.0.0-rc.2"),
    ("1.2.3", "prerelease", None, "1.2.4-rc.1"),
    ("1.2.3", "prerelease", "beta", "1.2.4-beta.1"),
    # pre<kind> on a release starts that release's prereleases
    ("1.2.3", "premajor", None, "2.0.0-rc.1"),
    ("1.2.3", "preminor", None, "1.3.0-rc.1"),
    ("1.2.3", "prepatch", None, "1.2.4-rc.1"),
    ("1.2.3", "premajor", "alpha", "2.0.0-alpha.1"),
    ("1.2.3", "preminor", "beta", "1.3.0-beta.1"),
    ("1.2.3", "prepatch", "dev", "1.2.4-dev.1"),
    # ... and on a prerelease already heading there, stays on it
    ("1.3.0-beta.2", "preminor", None, "1.3.0-beta.3"),
    ("1.3.0-beta.2", "preminor", "rc", "1.3.0-rc.1"),
    ("1.3.1-beta.2", "preminor", None, "1.4.0-rc.1"),
    ("1.3.1-beta.2", "prepatch", None, "1.3.1-beta.3"),
    ("2.0.0-rc.1", "premajor", None, "2.0.0-rc.2"),
    ("2.1.0-rc.1", "premajor", None, "3.0.0-rc.1"),
]


@pytest.mark.parametrize(("version", "kind", "pre_id", "expected"), BUMP_TABLE)
def test_bump(version: str, kind: str, pre_id: str | None, expected: str) -> None:
    before = semver.parse(version)
    after = semver.bump(before, kind, pre_id)
    assert str(after) == expected
    assert after > before
    assert str(before) == version  # the input is not modified


@pytest.mark.parametrize(
    ("version", "kind", "pre_id", "message"),
    [
        ("1.3.0-beta.2", "prerelease", "alpha", "would sort below"),
        ("1.3.0-rc.1", "prerelease", "beta", "would sort below"),
        ("1.3.0-beta.2", "preminor", "alpha", "would sort below"),
        ("1.2.3", "release", None, "already a release"),
        ("1.2.3+b", "release", None, "already a release"),
        ("1.2.3", "prerelease", "01", "not a prerelease label"),
        ("1.2.3", "prerelease", "1", "not a prerelease label"),
        ("1.2.3", "prerelease", "a.b", "not a prerelease label"),
        ("1.2.3", "prerelease", "", "not a prerelease label"),
        ("1.2.3", "preminor", "rc!", "not a prerelease label"),
        ("1.2.3", "major", "01", "not a prerelease label"),
        ("1.2.3", "micro", None, "unknown bump kind"),
        ("1.2.3", "", None, "unknown bump kind"),
        ("1.2.3", "MAJOR", None, "unknown bump kind"),
    ],
)
def test_bump_refusals(version: str, kind: str, pre_id: str | None, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        semver.bump(semver.parse(version), kind, pre_id)


def test_bump_kinds_are_all_handled() -> None:
    v = semver.parse("1.2.3-rc.1")
    for kind in semver.BUMPS:
        assert semver.bump(v, kind) > v


_labels = st.one_of(st.sampled_from(["alpha", "beta", "rc", "dev", "a", "z", "0a", "-"]), _alnum_ids)
_steps = st.lists(st.tuples(st.sampled_from(semver.BUMPS), st.one_of(st.none(), _labels)), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(version_strings(), _steps)
def test_bumps_always_go_forwards(start: str, steps: list[tuple[str, str | None]]) -> None:
    current = semver.parse(start)
    moved = 0
    for kind, pre_id in steps:
        try:
            nxt = semver.bump(current, kind, pre_id)
        except BadInput:
            # the only refusals: finishing a release, or a label that would go backwards
            assert kind == "release" and not current.prerelease or pre_id is not None
            continue
        assert nxt > current, f"{current} --{kind}/{pre_id}--> {nxt}"
        assert semver.compare(nxt, current) == 1
        assert not nxt.build
        assert semver.is_valid(str(nxt)) and semver.parse(str(nxt)) == nxt
        current, moved = nxt, moved + 1
    assume(moved)
