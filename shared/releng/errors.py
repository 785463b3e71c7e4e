"""The few exceptions every script raises; `releng.cli.run` maps them to exit codes in one place."""

from __future__ import annotations


class RelengError(Exception):
    """Base class: an expected failure with a one-line explanation (exit 2)."""

    exit_code = 2

    def __init__(self, what: str, where: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where

    def __str__(self) -> str:
        return f"{self.what} ({self.where})" if self.where else self.what


class BadInput(RelengError):
    """Bad usage or bad input: a malformed version, document, config or repository state."""


class ExternalError(RelengError):
    """A tool or service we depend on failed or is missing (git, cmake, a server)."""
