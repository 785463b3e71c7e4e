"""Platform code signing as configured external commands (signtool, codesign, notarytool, productsign, ...).

Configured per platform in releng.toml as argv lists, never shell strings:

    [[packaging.code_sign.windows]]
    stage = "staged"                  # "staged": files in the staging tree before archiving; "artifacts": outputs
    match = ["bin/*.exe", "**/*.vst3"]
    command = ["signtool", "sign", "/fd", "SHA256", "/f", "{env:WIN_CERT_FILE}", "/p", "{env:WIN_CERT_PASSWORD}",
               "/tr", "http://timestamp.digicert.com", "/td", "SHA256", "{file}"]

`{file}` is the file or bundle; `{out}` a temp path the command writes the signed copy to (it then replaces the
file: productsign cannot sign in place); `{env:NAME}` the value of an environment variable, a secret. Secret values
are never printed: commands are shown with their placeholders, and a failing command's output has every secret
replaced by `***`. A failing command fails the build (exit 1); a missing tool is exit 2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releng.artifacts import Failed
from releng.errors import BadInput, ExternalError
from releng.packaging.plugin_formats import Bundle, inside
from releng.packaging.staging import matches

STAGES = ("staged", "artifacts")
_ENV = re.compile(r"\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Step:
    command: tuple[str, ...]
    stage: str
    match: tuple[str, ...]

    def selects(self, path: str, bundles: Sequence[Bundle]) -> bool:
        """Matched by a glob; without globs, every file outside plug-in bundles and every bundle as a whole."""
        if self.match:
            return any(matches(g, path) for g in self.match)
        return inside(path, [b for b in bundles if b.path != path]) is None


def steps(config: Any, platform: str, where: str) -> list[Step]:
    """The code-sign steps for `platform` from the [packaging.code_sign] table; BadInput when malformed."""
    if config is None:
        return []
    if not isinstance(config, Mapping):
        raise BadInput("[packaging.code_sign] must be a table of platform = [steps]", where)
    out = []
    for i, raw in enumerate(config.get(platform, [])):
        at = f"{where}: packaging.code_sign.{platform}[{i}]"
        if not isinstance(raw, Mapping) or set(raw) - {"command", "stage", "match"}:
            raise BadInput("a step is a table with command, stage and match", at)
        command, stage, match = raw.get("command"), raw.get("stage", "artifacts"), raw.get("match", [])
        if (not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command)
                or not any("{file}" in a for a in command)):
            raise BadInput("command must be a non-empty argv list of strings with a {file} placeholder", at)
        if stage not in STAGES:
            raise BadInput(f"stage must be one of {', '.join(STAGES)}", at)
        if not isinstance(match, list) or not all(isinstance(g, str) for g in match):
            raise BadInput("match must be a list of globs", at)
        out.append(Step(tuple(command), stage, tuple(match)))
    return out


def expand(command: Sequence[str], file: Path, out: Path | None) -> tuple[list[str], list[str]]:
    """(argv with placeholders filled, the secret values it holds)."""
    secrets: list[str] = []

    def secret(m: re.Match[str]) -> str:
        value = os.environ.get(m[1])
        if value is None:
            raise BadInput(f"code signing needs the environment variable {m[1]}, which is not set")
        secrets.append(value)
        return value

    argv = [_ENV.sub(secret, a).replace("{file}", str(file)).replace("{out}", str(out or "")) for a in command]
    return argv, [s for s in secrets if s]


def redact(text: str, secrets: Sequence[str]) -> str:
    for s in sorted(secrets, key=len, reverse=True):
        text = text.replace(s, "***")
    return text


def run(step: Step, file: Path, *, verbose: bool = False) -> None:
    """Run one step on one file; Failed (exit 1) if it fails, with secrets redacted from what is shown."""
    uses_out = any("{out}" in a for a in step.command)
    out = file.with_name(f".{file.name}.signed.partial") if uses_out else None
    argv, secrets = expand(step.command, file, out)
    if verbose:
        sys.stderr.write(f"  code-sign: {' '.join(step.command)}  [{{file}} = {file.name}]\n")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ExternalError(f"code-sign tool {step.command[0]} not found on PATH") from None
    shown = redact((done.stdout + done.stderr).strip(), secrets)
    if done.returncode != 0:
        if out is not None:
            out.unlink(missing_ok=True)
        last = shown.splitlines()[-1] if shown else "no output"
        raise Failed(f"code signing failed: {step.command[0]} exited {done.returncode} on {file.name}: {last}")
    if verbose and shown:
        sys.stderr.write("    " + shown.replace("\n", "\n    ") + "\n")
    if out is not None:
        if not out.exists():
            raise Failed(f"code signing: {step.command[0]} wrote no {{out}} file for {file.name}")
        os.replace(out, file)
