"""Telling people a release was rolled back: a Slack-compatible webhook, SMTP mail, and the GitHub release's title.

"Communicate fast" (docs/rollback-runbook.md): rollback-release and watch-health send one message per rollback, as
configured in the update server config's `notify` section:

```json
"notify": {"webhook_env": "RELENG_ROLLBACK_WEBHOOK",
           "smtp": {"host": "smtp.example.com", "port": 587, "starttls": true, "from": "releng@example.com",
                    "to": ["audio-team@example.com"], "user": "releng", "password_env": "RELENG_SMTP_PASSWORD"}}
```
The webhook URL is a secret (Slack's incoming-webhook URLs carry their token), so the config names the environment
variable that holds it; the SMTP password likewise. Neither value is ever printed. The webhook gets
`{"text": "<message>"}` as JSON, which Slack, Mattermost, Rocket.Chat and Discord's `/slack` endpoint all accept.

Every exchange has a total deadline (issue 12 #3): the webhook `timeout` seconds per attempt and `budget` in all
(default timeout x attempts: 30 s); the mail `timeout` seconds in all, name lookups included (smtplib's own timeout
is per operation: a server dripping its replies would hold it for ever). A step that fails is recorded with its
error redacted (releng.http.redact: tokens, the webhook URL, the SMTP password, anything like a credential).
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from releng import http, semver
from releng.errors import BadInput, ExternalError
from releng.server import cdn
from releng.server.github import GitHub, GitHubError

ROLLED_BACK = "(rolled back)"
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


class NotifyError(ExternalError):
    """A webhook or mail server refused or could not be reached; the message never holds the URL or password."""


@dataclass
class Notifier:
    webhook_url: str | None = field(default=None, repr=False)
    smtp: dict[str, Any] | None = None
    smtp_password: str | None = field(default=None, repr=False)
    timeout: float = 10.0  # seconds: a webhook attempt, or the whole mail exchange
    attempts: int = 3
    budget: float | None = None  # seconds for the webhook with its retries (None: timeout x attempts)
    backoff: float = 1.0
    sleep: Callable[[float], None] = time.sleep

    def targets(self) -> list[str]:
        """What a message goes to, without secrets: `webhook` and/or `mail:<addresses>`."""
        out = ["webhook"] if self.webhook_url else []
        if self.smtp:
            out.append("mail:" + ",".join(self.smtp["to"]))
        return out

    def send(self, subject: str, text: str) -> list[str]:
        """Post and mail the message; the targets reached. NotifyError names the first target that failed."""
        sent = []
        if self.webhook_url:
            self._post(f"*{subject}*\n{text}")
            sent.append("webhook")
        if self.smtp:
            self._mail(subject, text)
            sent.append("mail")
        return sent

    def _post(self, text: str) -> None:
        """POST the JSON; 429/5xx and dropped connections are retried (Retry-After honoured) by releng.http."""
        assert self.webhook_url is not None
        try:
            reply = http.send("POST", self.webhook_url, data=json.dumps({"text": text}).encode("utf-8"),
                              headers={"Content-Type": "application/json", "User-Agent": "releng-rollback"},
                              timeout=self.timeout, attempts=self.attempts, backoff=self.backoff, budget=self.budget,
                              sleep=self.sleep)
        except http.GaveUp as e:  # its message names the status or the failure, never the URL (a secret)
            raise NotifyError(f"the webhook {e}", "notify") from None
        if not 200 <= reply.status < 300:
            raise NotifyError(f"the webhook answered HTTP {reply.status}", "notify")

    def _mail(self, subject: str, text: str) -> None:
        assert self.smtp is not None
        cfg = self.smtp
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, cfg["from"], ", ".join(cfg["to"])
        msg.set_content(text)
        deadline = http.Deadline(self.timeout)
        try:
            with http.watch(deadline) as add:
                name = http.within(deadline, socket.getfqdn)  # smtplib's default EHLO name: a lookup too
                with _SMTP(deadline, add, local_hostname=name, timeout=self.timeout) as smtp:
                    smtp.connect(cfg["host"], int(cfg.get("port", 25)))
                    if cfg.get("starttls"):
                        smtp.starttls()
                    if cfg.get("user") and self.smtp_password:
                        smtp.login(cfg["user"], self.smtp_password)
                    smtp.send_message(msg)
        except http.TooSlow as e:
            raise NotifyError(f"cannot send mail via {cfg['host']}: {e}", "notify") from None
        except (smtplib.SMTPException, OSError) as e:
            raise NotifyError(f"cannot send mail via {cfg['host']}: {type(e).__name__}", "notify") from None

    def secrets(self) -> list[str]:
        """The values an error must never show: the webhook URL and the SMTP password."""
        return [s for s in (self.webhook_url, self.smtp_password) if s]


class _SMTP(smtplib.SMTP):
    """smtplib.SMTP whose connection is made within the deadline and cut when it passes (releng.http.watch)."""

    def __init__(self, deadline: http.Deadline, add: Callable[[socket.socket], None], **kwargs: Any) -> None:
        self._deadline, self._add = deadline, add
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = http.open_socket(host, port, self._deadline, timeout=timeout, source=self.source_address)
        self._add(sock)
        return sock


def from_config(cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Notifier | None:
    """The notifier the config's `notify` section describes; None when nothing is configured. BadInput if garbled."""
    section = cfg.get("notify") or {}
    env = os.environ if environ is None else environ
    if not isinstance(section, dict):
        raise BadInput("notify must be an object")
    out = Notifier()
    hook_env = section.get("webhook_env")
    if hook_env is not None:
        url = env.get(str(hook_env), "").strip()
        if not re.fullmatch(r"https?://\S+", url):
            raise BadInput(f"no webhook URL: set ${hook_env} (notify.webhook_env) to an http(s) URL")
        out.webhook_url = url
    smtp = section.get("smtp")
    if smtp is not None:
        if not isinstance(smtp, dict) or not isinstance(smtp.get("host"), str) or not smtp["host"]:
            raise BadInput("notify.smtp needs a \"host\"")
        to = smtp.get("to")
        if not isinstance(to, list) or not to or not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in to):
            raise BadInput("notify.smtp.to must be a non-empty list of mail addresses")
        if not isinstance(smtp.get("from"), str) or not _ADDRESS.fullmatch(smtp["from"]):
            raise BadInput("notify.smtp.from must be a mail address")
        port = smtp.get("port", 25)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise BadInput(f"notify.smtp.port must be 1..65535, found {port!r}")
        if smtp.get("password_env"):
            out.smtp_password = env.get(str(smtp["password_env"]), "") or None
            if out.smtp_password is None:
                raise BadInput(f"no SMTP password: set ${smtp['password_env']} (notify.smtp.password_env)")
        out.smtp = smtp
    return out if out.webhook_url or out.smtp else None


def mark_github_release(gh: GitHub, tag: str, note: str) -> str:
    """Title the tag's release "... (rolled back)", put `note` on top of its body, make it a prerelease (so GitHub
    stops calling it Latest). Idempotent: an already marked release is left alone. Returns "marked", "unchanged" or
    "missing" (no release for the tag)."""
    release = gh.find_release(tag)
    if release is None:
        return "missing"
    name = str(release.get("name") or tag)
    if name.endswith(ROLLED_BACK) and release.get("prerelease") is True:
        return "unchanged"
    fields = {"name": f"{name} {ROLLED_BACK}", "body": f"{note}\n\n{release.get('body') or ''}".rstrip() + "\n",
              "prerelease": True}
    answer = gh.request("PATCH", f"/releases/{int(release['id'])}", fields)
    if answer.status != 200:
        raise GitHubError(f"cannot mark release {release['id']}: HTTP {answer.status}", "github")
    return "marked"


def hotfix_version(previous: str, taken: Iterable[str] = ()) -> str:
    """The next free patch on PREVIOUS's line: its patch bump, then the next one while that version is taken (the
    rolled-back release itself, anything published or quarantined), so bump-version finds no existing tag."""
    used = {str(v) for v in taken}
    candidate = semver.bump(semver.parse(previous).core, "patch")
    while str(candidate) in used:
        candidate = semver.bump(candidate, "patch")
    return str(candidate)


def hotfix_command(previous: str, tag_prefix: str = "v", taken: Iterable[str] = ()) -> str:
    """The follow-up: `git checkout -b hotfix/X.Y.Z vPREVIOUS`, X.Y.Z the next free patch on the previous good
    release's line (hotfix_version), branched from the last good tag (docs/hotfix.md)."""
    return f"git checkout -b hotfix/{hotfix_version(previous, taken)} {tag_prefix}{previous}"


@dataclass(frozen=True)
class News:
    version: str
    to: str
    reason: str
    who: str
    tag: str
    channels: list[str]
    hotfix: str
    checklist: str

    def text(self) -> str:
        return (f"{self.version} was rolled back to {self.to} by {self.who}: {self.reason}\n"
                f"Channels: {', '.join(self.channels) or 'none'}. Follow-up: {self.hotfix}; "
                f"lessons learned: {self.checklist}.")


def announce(news: News, urls: Sequence[str], *, purger: cdn.Purger | None, gh: GitHub | None,
             notifier: Notifier | None, earlier: Mapping[str, Any], purge_again: bool, dry: bool,
             say: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Purge the CDN, mark the GitHub release, send the message: each once per rollback. `earlier` holds the steps
    of a previous run of the same rollback (a step done then is skipped: nobody is told twice); the purge runs again
    when this run changed a server (`purge_again`). A failing step is reported, never raised: the rest still runs."""
    jobs: list[tuple[str, object, str, Callable[[], dict[str, Any]], bool]] = [
        ("cdn", purger, f"purge {len(urls)} CDN URLs: {' '.join(urls)}",
         lambda: {"purged": purger.purge(urls) if purger else []}, purge_again),
        ("github", gh, f"mark the GitHub release {news.tag} {ROLLED_BACK}",
         lambda: {"result": mark_github_release(gh, news.tag, f"**Rolled back** to {news.to}: {news.reason}")
                  if gh else None}, False),
        ("notify", notifier, f"send the message to {', '.join(notifier.targets()) if notifier else ''}",
         lambda: {"sent": notifier.send(f"Rolled back {news.version}", news.text()) if notifier else []}, False),
    ]
    out: dict[str, dict[str, Any]] = {}
    hidden = [*(notifier.secrets() if notifier else []), *(x.token for x in (purger, gh) if x is not None)]
    for name, what, plan, run, again in jobs:
        if what is None:
            out[name] = {"status": "not-configured"}
        elif earlier.get(name, {}).get("status") == "done" and not again:
            out[name] = {"status": "done-earlier"}
        elif dry:
            say(f"would {plan}")
            out[name] = {"status": "planned"}
        else:
            try:
                out[name] = {"status": "done", **run()}
            except ExternalError as e:
                error = http.redact(str(e), hidden)
                out[name] = {"status": "failed", "error": error}
                say(f"{name} failed: {error}")
    return out
