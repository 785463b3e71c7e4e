"""Semantic Versioning 2.0.0, exactly as semver.org specifies it, plus the bumps release tools need.

Precedence (spec item 11): major, minor, patch numerically; a prerelease sorts below its release; prerelease
identifiers compare numerically when all digits, else in ASCII order, numeric below alphanumeric, and a shorter
list of equal prefix sorts first; build metadata is ignored. Numbers may be of any size (Python ints).
"""

from __future__ import annotations

from releng.errors import BadInput

# Hand-written rather than the regex semver.org suggests: importing `re` or `dataclasses` alone would cost a third
# of the start-up of `semver-tool valid` and of the commit hook (bench/README.md). ASCII only, like the spec's BNF.
_DIGITS = frozenset("0123456789")
_IDENT_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-")

BUMPS = ("major", "minor", "patch", "premajor", "preminor", "prepatch", "prerelease", "release")

Identifier = int | str


class Version:
    """A parsed SemVer version. `==` and `<` follow precedence, so build metadata is ignored by both."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build", "_key")

    def __init__(self, major: int, minor: int, patch: int,
                 prerelease: tuple[Identifier, ...] = (), build: tuple[str, ...] = ()) -> None:
        self.major, self.minor, self.patch = major, minor, patch
        self.prerelease, self.build = prerelease, build
        pre = tuple((0, i, "") if isinstance(i, int) else (1, 0, i) for i in prerelease)
        self._key = (major, minor, patch, 0 if pre else 1, pre)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(i) for i in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"

    @property
    def core(self) -> Version:
        """major.minor.patch alone: what numeric-only version fields (CMake, plists, AU) can hold."""
        return Version(self.major, self.minor, self.patch)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def precedence_key(self) -> tuple[object, ...]:
        return self._key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key

    def __le__(self, other: Version) -> bool:
        return self._key <= other._key

    def __gt__(self, other: Version) -> bool:
        return self._key > other._key

    def __ge__(self, other: Version) -> bool:
        return self._key >= other._key


def _numeric(s: str) -> bool:
    """A numeric identifier: digits, no leading zero (spec items 2 and 9)."""
    return bool(s) and _DIGITS.issuperset(s) and (s == "0" or s[0] != "0")


def _split(text: str) -> tuple[list[str], list[str], list[str]] | None:
    core, plus, build = text.partition("+")
    core, dash, pre = core.partition("-")
    numbers = core.split(".")
    pre_ids = pre.split(".") if dash else []
    build_ids = build.split(".") if plus else []
    if len(numbers) != 3 or not all(_numeric(n) for n in numbers):
        return None
    for ident in pre_ids:
        if not ident or not _IDENT_CHARS.issuperset(ident):
            return None
        if _DIGITS.issuperset(ident) and not _numeric(ident):
            return None  # 01 is neither numeric (leading zero) nor alphanumeric (no letter)
    if not all(ident and _IDENT_CHARS.issuperset(ident) for ident in build_ids):
        return None
    return numbers, pre_ids, build_ids


def parse(text: str, where: str | None = None) -> Version:
    """Parse a SemVer string (no `v` prefix) or raise BadInput naming what is wrong."""
    version = try_parse(text)
    if version is None:
        raise BadInput(f"not a SemVer 2.0.0 version: {text!r}", where)
    return version


def try_parse(text: str) -> Version | None:
    """Parse a SemVer string, or None when it is not one (for scanning many tags)."""
    parts = _split(text) if isinstance(text, str) else None
    if parts is None:
        return None
    numbers, pre_ids, build_ids = parts
    pre = tuple(_int(i) if _DIGITS.issuperset(i) else i for i in pre_ids)
    return Version(_int(numbers[0]), _int(numbers[1]), _int(numbers[2]), pre, tuple(build_ids))


def _int(digits: str) -> int:
    """int() for numbers of any size: the spec sets no limit, CPython's default stops at 4300 digits."""
    try:
        return int(digits)
    except ValueError:
        import sys

        sys.set_int_max_str_digits(0)
        return int(digits)


def is_valid(text: str) -> bool:
    return _split(text) is not None


def is_prerelease_label(text: str) -> bool:
    """A label like `rc` or `beta`: a valid alphanumeric prerelease identifier (not all digits)."""
    return bool(text) and _IDENT_CHARS.issuperset(text) and not _DIGITS.issuperset(text)


def compare(a: Version, b: Version) -> int:
    """-1, 0 or 1 by precedence."""
    ka, kb = a.precedence_key(), b.precedence_key()
    return (ka > kb) - (ka < kb)


def bump(version: Version, kind: str, pre_id: str | None = None) -> Version:
    """The next version after `version` for a bump kind, never going backwards.

    A release bump on a prerelease finishes it where the prerelease already points (npm's rule):
    1.3.0-rc.1 + minor = 1.3.0 and + patch = 1.3.0, but 1.3.1-rc.1 + minor = 1.4.0. `prerelease` counts up
    (rc.1 -> rc.2), switches label only forwards (beta.2 -> rc.1), and starts a prepatch on a release.
    """
    if pre_id is not None and not is_prerelease_label(pre_id):
        raise BadInput(f"not a prerelease label: {pre_id!r} (letters, digits, '-'; not all digits)")
    v = version
    if kind == "major":
        if v.prerelease and v.minor == 0 and v.patch == 0:
            return v.core
        return Version(v.major + 1, 0, 0)
    if kind == "minor":
        if v.prerelease and v.patch == 0:
            return v.core
        return Version(v.major, v.minor + 1, 0)
    if kind == "patch":
        if v.prerelease:
            return v.core
        return Version(v.major, v.minor, v.patch + 1)
    if kind == "release":
        if not v.prerelease:
            raise BadInput(f"{v} is already a release: nothing to finish")
        return v.core
    if kind in ("premajor", "preminor", "prepatch"):
        target = bump(v, kind[3:])
        if v.prerelease and target == v.core:  # e.g. 1.3.0-beta.2 preminor: stay on 1.3.0's prereleases
            return bump(v, "prerelease", pre_id)
        return Version(target.major, target.minor, target.patch, (pre_id or "rc", 1))
    if kind == "prerelease":
        if not v.prerelease:
            return Version(v.major, v.minor, v.patch + 1, (pre_id or "rc", 1))
        return _next_prerelease(v, pre_id)
    raise BadInput(f"unknown bump kind: {kind!r} (expected one of {', '.join(BUMPS)})")


def _next_prerelease(v: Version, pre_id: str | None) -> Version:
    label = v.prerelease[0]
    if pre_id is not None and pre_id != label:
        candidate = Version(v.major, v.minor, v.patch, (pre_id, 1))
        if candidate <= v:
            raise BadInput(f"{candidate} would sort below {v}: prerelease labels only go forwards")
        return candidate
    ids = list(v.prerelease)
    for i in range(len(ids) - 1, -1, -1):
        ident = ids[i]
        if isinstance(ident, int):
            ids[i] = ident + 1
            return Version(v.major, v.minor, v.patch, tuple(ids[: i + 1]))
    return Version(v.major, v.minor, v.patch, (*ids, 1))
