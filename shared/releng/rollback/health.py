"""Crash telemetry and the rollback decision of `watch-health` (docs/security-properties.md #33).

The feed is one JSON object, from a file, stdin (`-`) or an http(s) URL:
`{"versions": {"1.2.0": {"sessions": N, "crashes": M, "clients": K}}}`. `clients` (distinct client ids) is optional,
but a version without it never passes a non-zero minimum of clients: too small a sample is never acted on.
A version is rolled back only when it is offered on a channel, was not rolled back before, has at least the minimum
sessions and distinct clients, and crashes/sessions is strictly above the threshold. Rates are compared as exact
fractions, so a feed sitting exactly on the threshold is never judged above it by a rounding error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from releng import documents, files, semver
from releng.errors import BadInput, ExternalError

FEED_CAP = 4 << 20  # bytes: a feed of thousands of versions is ~100 KiB; more is a wrong URL or a runaway server
FEED_TIMEOUT = 10.0  # seconds for the whole fetch (name lookup, connect, headers and body: issue 12 #3)

ROLLBACK = "rollback"  # the one verdict that acts
HEALTHY = "healthy"
FEW_SESSIONS = "too few sessions"
FEW_CLIENTS = "too few clients"
NOT_OFFERED = "not offered"  # unknown to the server, or in releases/ but on no channel: nothing to roll back
ROLLED_BACK = "already rolled back"


@dataclass(frozen=True)
class Sample:
    """One version's figures from the feed."""

    version: str
    sessions: int
    crashes: int
    clients: int | None  # None: the feed does not count distinct clients

    @property
    def rate(self) -> Fraction:
        return Fraction(self.crashes, self.sessions) if self.sessions else Fraction(0)


@dataclass(frozen=True)
class Policy:
    threshold: Fraction  # a crash rate, 0 < threshold < 1
    min_sessions: int
    min_clients: int


@dataclass(frozen=True)
class Decision:
    sample: Sample
    verdict: str
    channels: tuple[str, ...] = ()  # where the version is offered


def parse_threshold(text: str) -> Fraction:
    """'1%', '0.5%' or a fraction like '0.01' -> an exact rate; BadInput outside 0..100% (exclusive)."""
    raw = text.strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = Fraction(number)  # exact decimal parsing: Fraction("0.7") is 7/10, unlike float
    except (ValueError, ZeroDivisionError):
        raise BadInput(f"--threshold must be a percentage like 1% or 0.5%, or a fraction like 0.01, found {text!r}"
                       ) from None
    if percent:
        value /= 100
    if not 0 < value < 1:
        hint = " (a bare number is a fraction: write 1% for one percent)" if not percent and value >= 1 else ""
        raise BadInput(f"--threshold must be above 0% and below 100%, found {text!r}{hint}")
    return value


def format_rate(rate: Fraction) -> str:
    """A rate as a percentage with up to 3 decimals: 0.0125 -> '1.25%'."""
    text = f"{float(rate) * 100:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


def parse_feed(data: bytes, where: str) -> dict[str, Sample]:
    """Check the feed's shape; BadInput naming the feed and the first thing wrong (nested too deeply included)."""
    doc: Any = documents.parse_json(data, where, "health feed")
    versions = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(versions, dict):
        raise BadInput('the health feed must be an object with a "versions" object', where)
    samples = {}
    for version, figures in versions.items():
        if not semver.is_valid(version):
            raise BadInput(f"the health feed names {version!r}, not a SemVer version", where)
        if not isinstance(figures, dict):
            raise BadInput(f"versions.{version} must be an object of sessions, crashes and clients", where)
        sessions, crashes = _count(figures, "sessions", version, where), _count(figures, "crashes", version, where)
        clients = None if figures.get("clients") is None else _count(figures, "clients", version, where)
        if crashes > sessions:
            raise BadInput(f"versions.{version} has more crashes than sessions", where)
        samples[version] = Sample(version, sessions, crashes, clients)
    return samples


def _count(figures: Mapping[str, Any], key: str, version: str, where: str) -> int:
    value = figures.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadInput(f"versions.{version}.{key} must be a whole number >= 0, found {value!r}", where)
    return value


def feed_timeout(text: str) -> float:
    """`--feed-timeout`: a finite number of seconds above 0 (argparse turns the ValueError into exit 2)."""
    value = float(text)
    if not 0 < value < float("inf"):  # also refuses nan
        raise ValueError(text)
    return value


def read_feed(source: str, *, timeout: float = FEED_TIMEOUT, cap: int = FEED_CAP) -> dict[str, Sample]:
    """The feed from an http(s) URL (within `timeout` seconds in all), `-` (stdin) or a file; at most `cap` bytes."""
    if not 0 < timeout < float("inf"):
        raise BadInput(f"the feed timeout must be a number of seconds above 0, found {timeout!r}")
    if source.startswith(("http://", "https://")):
        data = _fetch(source, timeout, cap)
    elif "://" in source:
        raise BadInput("the health feed must be a file or an http(s) URL", source)
    else:  # `-` is a pipe on purpose; any other path must be a regular file (a FIFO would hang the watcher)
        data = files.read_capped(source, cap, "health feed", stdin=True)
    return parse_feed(data, source)


def _fetch(url: str, timeout: float, cap: int) -> bytes:
    """The feed's bytes within `timeout` seconds in all: a server dripping them is cut (releng.http.bounded)."""
    import requests

    from releng import http

    deadline = http.Deadline(timeout)
    try:
        with http.bounded(deadline, url) as session, session.get(
                url, stream=True, timeout=deadline.timeout(timeout), allow_redirects=False,
                headers={"Accept": "application/json", "Accept-Encoding": "identity"}) as response:
            if response.status_code != 200:
                raise ExternalError(f"the health feed answered HTTP {response.status_code} "
                                    "(redirects are not followed)", url)
            data = bytearray()
            for chunk in response.iter_content(chunk_size=65536):
                data += chunk
                if len(data) > cap:
                    raise BadInput(f"the health feed is larger than {cap} bytes", url)
            return bytes(data)
    except http.TooSlow as e:
        raise ExternalError(f"cannot fetch the health feed: {e}", url) from None
    except requests.RequestException as e:
        raise ExternalError(f"cannot fetch the health feed: {type(e).__name__}", url) from None


def judge(sample: Sample, policy: Policy) -> str:
    """The sample alone: FEW_SESSIONS, FEW_CLIENTS, HEALTHY or ROLLBACK. The bounds are inclusive for the sample
    (sessions >= min_sessions and clients >= min_clients) and strict for the rate (crashes/sessions > threshold)."""
    if sample.sessions < policy.min_sessions or sample.sessions == 0:
        return FEW_SESSIONS
    if policy.min_clients and (sample.clients is None or sample.clients < policy.min_clients):
        return FEW_CLIENTS
    return ROLLBACK if sample.rate > policy.threshold else HEALTHY


def decide(sample: Sample, policy: Policy, *, channels: Iterable[str] = (), rolled_back: bool = False) -> Decision:
    """The verdict for one version: only ROLLBACK acts, and only on a version offered and never rolled back."""
    verdict = judge(sample, policy)
    if verdict == ROLLBACK and rolled_back:
        verdict = ROLLED_BACK
    elif verdict == ROLLBACK and not tuple(channels):
        verdict = NOT_OFFERED
    return Decision(sample, verdict, tuple(channels))


def decide_all(feed: Mapping[str, Sample], policy: Policy, offered: Mapping[str, Iterable[str]],
               rolled_back: Callable[[str], bool]) -> list[Decision]:
    """A decision per version of the feed, oldest first; `offered` maps version -> channels offering it.

    `rolled_back(version)` asks the servers, so it is called only for the versions the sample condemns.
    """
    out = []
    for v in sorted(feed, key=semver.parse):
        condemned = judge(feed[v], policy) == ROLLBACK
        out.append(decide(feed[v], policy, channels=offered.get(v, ()), rolled_back=condemned and rolled_back(v)))
    return out


def offered(cfg: Mapping[str, Any], trusted: Mapping[str, bytes]) -> dict[str, list[str]]:
    """version -> the channels offering it (halted or not) on any enabled server that also holds releases/<version>.

    A mirror that cannot be reached is skipped (the rollback then names it); ExternalError when none can be. A
    manifest that fails verification is BadInput, as everywhere: never trust, never skip silently. A watcher never
    creates a server root (a missing local one is unreachable, as for the rollback).
    """
    from releng.server import channel_store, connect, layout, transport

    found: dict[str, list[str]] = {}
    errors, reached = [], 0
    for spec in cfg["servers"]:
        if not spec.get("enabled", True):
            continue
        t = None
        try:
            t = connect.open_server(spec, create=False)
            for channel in cfg["channels"]:
                payload = channel_store.read(t, channel, trusted).payload
                if payload is None:
                    continue
                st = t.stat(layout.release_dir(payload["version"]))
                if st is not None and st.is_dir and channel not in found.setdefault(payload["version"], []):
                    found[payload["version"]].append(channel)
            reached += 1
        except Exception as e:
            if isinstance(e, BadInput) or not (isinstance(e, ExternalError) or transport.network_error(e)):
                raise
            errors.append(f"{spec['name']}: {e}")
        finally:
            if t is not None:
                t.close()
    if not reached:
        raise ExternalError(f"no server can be reached ({'; '.join(errors) or 'none is enabled'})")
    return found


def figures(decision: Decision, policy: Policy) -> dict[str, Any]:
    """What the rollback log records about the decision: the figures it used (docs/security-properties.md #33)."""
    s = decision.sample
    return {"sessions": s.sessions, "crashes": s.crashes, "clients": s.clients,
            "crash_rate": round(float(s.rate), 8), "threshold": round(float(policy.threshold), 8),
            "min_sessions": policy.min_sessions, "min_clients": policy.min_clients}


def line(decision: Decision) -> str:
    """One readable line: version, sessions, clients, crash rate, verdict."""
    s = decision.sample
    clients = "?" if s.clients is None else str(s.clients)
    where = f" ({', '.join(decision.channels)})" if decision.verdict == ROLLBACK else ""
    return (f"{s.version:<16} sessions {s.sessions:>9}  clients {clients:>7}  crashes {s.crashes:>7}  "
            f"rate {format_rate(s.rate):>8}  {decision.verdict}{where}")


def as_json(decision: Decision, policy: Policy) -> dict[str, Any]:
    return {"version": decision.sample.version, **figures(decision, policy), "verdict": decision.verdict,
            "channels": list(decision.channels)}

