"""Whether the version files agree, and when they do not, which file or which field inside one is the odd one.

A file may hold the version twice (a header's _STRING and _MAJOR/_MINOR/_PATCH macros, an .rc's ProductVersion and
FILEVERSION, an Info.plist's CFBundleShortVersionString and AudioComponents version): a field that drifted alone is
named with what the file's other fields and the other files say, never the field that is right (issue 13: a
CFBundleShortVersionString edit was blamed on the AU integer), and one file is never named twice in one message.
Kept apart from version_files, which imports it, so it reads Found by its attributes alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from releng.errors import BadInput


def _said(found: Any) -> Any:
    return found.full if found.full is not None else found.core


def _core(found: Any) -> Any:
    return found.full.core if found.full is not None else found.core


def check_fields(found: Sequence[Any]) -> None:
    """BadInput for the first file whose own fields disagree, blaming the field(s) the rest of the evidence
    (the file's other fields and the other files) does not back."""
    for f in found:
        cores = {v.core for _, v in f.fields}
        if len(cores) < 2:
            continue
        others = {_core(o) for o in found if o is not f and _core(o) is not None}
        votes = {c: sum(v.core == c for _, v in f.fields) + (2 if others == {c} else 0) for c in cores}
        best = max(votes.values())
        right = [c for c in cores if votes[c] == best]
        if len(right) == 1:
            good, odd = right[0], [(n, v) for n, v in f.fields if v.core != right[0]]
            backers = [n for n, v in f.fields if v.core == good]
            also = " and the other version files" if others == {good} else ""
            raise BadInput(f"{', '.join(f'{n} says {v}' for n, v in odd)}, where {' and '.join(backers)}{also} "
                           f"say{'s' if len(backers) == 1 and not also else ''} {good}", f.spec.path)
        raise BadInput("the file disagrees with itself: " + ", ".join(f"{n} says {v}" for n, v in f.fields),
                       f.spec.path)


def agreed_version(found: Sequence[Any]) -> tuple[Any, Any]:
    """The (full, core) version all files agree on; BadInput naming the field or the two files that disagree."""
    check_fields(found)
    reference = next((f for f in found if f.full is not None), None)
    full = reference.full if reference else None
    for f in found:
        if f.full is not None and reference is not None and str(f.full) != str(full):
            raise BadInput(f"version files disagree: {reference.spec.path} says {full}, "
                           f"{f.spec.path} says {f.full}")
    core = full.core if full else None
    for f in found:
        if f.core is None or f is reference:
            continue
        if core is None or reference is None:
            core, reference = f.core, f
        elif f.core != core:
            raise BadInput(f"version files disagree: {reference.spec.path} says {_said(reference)}, "
                           f"{f.spec.path} says {f.core}")
    return full, core
