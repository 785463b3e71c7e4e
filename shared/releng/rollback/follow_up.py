"""What a rollback tells people to do next, from what the servers know (issue 13): the versions a hotfix must not
reuse (so the hint's branch is one bump-version accepts), how a re-offered rollout is said, and how the changelog
marks the rolled-back release [YANKED]. releng.rollback.procedure puts them in the report; notify.hotfix_command
builds the branch command from `taken`."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from releng.server import layout
from releng.server.layout import QUARANTINE, ROLLBACK_LOG
from releng.server.transport import Transport

_QUARANTINED = re.compile(r"^(.+)-\d{8}T\d{6}Z(?:\.\d+)?$")  # quarantine/<version>-<utc stamp>[.n]


def taken(servers: Sequence[Transport], version: str, logs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every version the servers know (published, quarantined, in the rollback log): none is a free hotfix."""
    out = {version} | {str(e.get(k)) for e in logs for k in ("from", "to")}
    for t in servers:
        out.update(layout.released_versions(t))
        if (st := t.stat(QUARANTINE)) is not None and st.is_dir:  # a stray file there fails step 3, not this
            out.update(m.group(1) for n in t.listdir(QUARANTINE) if (m := _QUARANTINED.match(n)))
    return sorted(out)


def rollout_text(rollout: Mapping[str, Any]) -> str:
    """`50%`, `50%, halted`: how a re-offered rollout is said in the report."""
    return f"{rollout.get('percent')}%" + (", halted" if rollout.get("halted") else "")


def yank_hint(cfg: Mapping[str, Any], version: str) -> str:
    """How the changelog marks VERSION withdrawn (`## [VERSION] - DATE [YANKED]`, Keep a Changelog 1.1.0): the
    rollback log gen-changelog reads (`--yanked-from`; a local server's own path when there is one), or the
    config's list."""
    local = next((f"{spec['root']}/{ROLLBACK_LOG}" for spec in cfg["servers"]
                  if spec.get("transport") == "local" and spec.get("enabled", True)), None)
    log = shlex.quote(local) if local else "rollback_log.jsonl (copied from a server)"
    return (f"gen-changelog --yanked-from {log} marks {version} [YANKED]; or add \"{version}\" to `yanked` under "
            "[changelog] in releng.toml, then run gen-changelog")
