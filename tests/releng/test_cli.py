"""releng.cli: exit codes, one-line errors, document output, and colour decisions."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from releng import artifacts, cli
from releng.errors import BadInput, ExternalError, RelengError


def full_parser(doc: str = "Does a thing.") -> argparse.ArgumentParser:
    """A parser with every option group but --servers (which the server tests add)."""
    p = cli.parser(doc, "thing")
    cli.add_output(p)
    cli.add_dry_run(p)
    cli.add_repository(p)
    return p


def parse(*argv: str, common: bool = True) -> argparse.Namespace:
    return (full_parser() if common else cli.parser("Does a thing.", "thing")).parse_args(list(argv))


def raising(exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def func(args: argparse.Namespace) -> int:
        raise exc

    return func


def test_success_passes_the_return_code_through(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(lambda a: 0, parse()) == cli.OK == 0
    assert cli.run(lambda a: 1, parse()) == cli.NEGATIVE == 1
    assert capsys.readouterr().err == ""


def test_bad_input_is_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(BadInput("not a SemVer 2.0.0 version: 'x'", "VERSION")), parse()) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: not a SemVer 2.0.0 version: 'x' (VERSION)\n"


def test_bad_input_without_where(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(BadInput("nothing to do")), parse()) == cli.BAD_INPUT
    assert capsys.readouterr().err == "error: nothing to do\n"


def test_multi_line_messages_become_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(BadInput("malformed TOML:\n  Invalid value\t(at line 2)", "releng.toml")), parse()) == 2
    assert capsys.readouterr().err == "error: malformed TOML: Invalid value (at line 2) (releng.toml)\n"


def test_external_error_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(ExternalError("git log failed: fatal: boom", "/repo")), parse()) == 2
    assert capsys.readouterr().err == "error: git log failed: fatal: boom (/repo)\n"


def test_exit_code_comes_from_the_exception(capsys: pytest.CaptureFixture[str]) -> None:
    class Negative(RelengError):
        exit_code = 1

    assert cli.run(raising(Negative("no update available")), parse()) == 1
    assert capsys.readouterr().err == "error: no update available\n"


def test_unexpected_exception_is_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(ValueError("bad\nthing")), parse()) == cli.INTERNAL == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: internal: ValueError: bad thing (rerun with --debug)\n"
    assert "Traceback" not in err


def test_keyboard_interrupt_is_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(raising(KeyboardInterrupt()), parse()) == cli.INTERRUPTED == 130
    assert capsys.readouterr().err == "interrupted\n"


@pytest.mark.parametrize(("exc", "code", "line"), [
    (BadInput("x", "y"), 2, "error: x (y)"), (ExternalError("z"), 2, "error: z"),
    (artifacts.Failed("no"), 1, "error: no"),
    (ValueError("v"), 3, "error: internal: ValueError: v (rerun with --debug)"),
    (RuntimeError("r"), 3, "error: internal: RuntimeError: r (rerun with --debug)")])
def test_debug_adds_the_traceback_and_keeps_the_exit_code(exc: Exception, code: int, line: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 12: re-raising turned a refusal (2) into Python's 1, which check-update defines as "no update"."""
    assert cli.run(raising(exc), parse()) == code
    plain = capsys.readouterr().err
    assert plain == line + "\n"
    assert cli.run(raising(exc), parse("--debug")) == code
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)") and err.endswith("\n" + plain)
    assert f"{type(exc).__name__}: " in err


def test_system_exit_is_not_swallowed() -> None:
    with pytest.raises(SystemExit):
        cli.run(raising(SystemExit(4)), parse())


def test_parser_flags() -> None:
    args = parse("--json", "--out", "o.json", "--dry-run", "--repo", "r", "--config", "c.toml", "-vv", "-q",
                 "--debug")
    assert (args.json, args.out, args.dry_run, args.repo, args.config) == (True, "o.json", True, "r", "c.toml")
    assert (args.verbose, args.quiet, args.debug) == (2, 1, True)
    defaults = parse()
    assert (defaults.json, defaults.out, defaults.dry_run, defaults.repo, defaults.config) == (
        False, None, False, None, None)
    assert (defaults.verbose, defaults.quiet, defaults.debug) == (0, 0, False)
    bare = parse("-v", common=False)
    assert not hasattr(bare, "json") and bare.verbose == 1


def test_parser_help_is_the_docstring(capsys: pytest.CaptureFixture[str]) -> None:
    doc = "Does a thing.\n\n  indented example\n    kept as written\n"
    with pytest.raises(SystemExit) as info:
        full_parser(doc).parse_args(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: thing")
    assert "  indented example\n    kept as written\n" in out
    assert "--dry-run" in out


def test_groups_come_one_by_one() -> None:
    """No flag is added where the command has no use for it: a bare parser has only -q, -v and --debug."""
    bare = cli.parser("Does a thing.", "thing")
    assert {o for a in bare._actions for o in a.option_strings} == {"-h", "--help", "-q", "--quiet", "-v",
                                                                     "--verbose", "--debug"}
    only_json = cli.parser("Does a thing.", "thing")
    cli.add_output(only_json, out=False)
    assert vars(only_json.parse_args(["--json"])) == {"quiet": 0, "verbose": 0, "debug": False, "json": True}
    config_only = cli.parser("Does a thing.", "thing")
    cli.add_repository(config_only, repo=False)
    assert not hasattr(config_only.parse_args([]), "repo")


def test_servers_required_defaulted_or_optional(capsys: pytest.CaptureFixture[str]) -> None:
    required = cli.parser("Does a thing.", "thing")
    cli.add_servers(required)
    with pytest.raises(SystemExit) as info:
        required.parse_args([])
    assert info.value.code == 2
    assert "the following arguments are required: --servers" in capsys.readouterr().err
    assert required.parse_args(["--servers", "s.json"]).servers == "s.json"
    defaulted = cli.parser("Does a thing.", "thing")
    cli.add_servers(defaulted, default=Path("/x/distribution/update_server_config.json"))
    assert defaulted.parse_args([]).servers == "/x/distribution/update_server_config.json"
    assert "the shipped distribution/update_server_config.json" in " ".join(defaulted.format_help().split())
    optional = cli.parser("Does a thing.", "thing")
    cli.add_servers(optional, required=False)
    assert optional.parse_args([]).servers is None
    with pytest.raises(ValueError):
        cli.add_servers(cli.parser(None, "x"), default="s.json", required=True)


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("--no-such-flag")
    assert info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


# --- emit ---------------------------------------------------------------------------------------------------------

BODY = {"version": "1.3.0-rc.1", "note": "ünïcödé"}


def test_emit_json_and_out_get_the_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "sub" / "version.json"
    text = cli.emit(parse("--json", "--out", str(out_file)), "version", BODY)
    printed = capsys.readouterr().out
    assert printed == text
    assert out_file.read_bytes() == printed.encode("utf-8")
    doc = json.loads(printed)
    assert doc["schema"] == "releng/version" and doc["version"] == "1.3.0-rc.1" and doc["note"] == "ünïcödé"


def test_emit_out_only_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "v.json"
    text = cli.emit(parse("--out", str(out_file)), "version", BODY)
    assert capsys.readouterr().out == ""
    assert out_file.read_text(encoding="utf-8") == text


def test_emit_out_dash_is_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = cli.emit(parse("--out", "-"), "version", BODY)
    assert capsys.readouterr().out == text
    assert list(tmp_path.iterdir()) == []  # no file called "-"


def test_emit_neither(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.emit(parse(), "version", BODY) is None  # nothing asked for, nothing rendered
    assert capsys.readouterr().out == ""
    assert list(tmp_path.iterdir()) == []


def test_emit_without_common_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.emit(parse(common=False), "version", BODY) is None
    assert capsys.readouterr().out == ""


# --- emit_json: a plain JSON result ------------------------------------------------------------------------------

def test_emit_json_gets_the_same_bytes_to_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "sub" / "promote.json"
    text = cli.emit_json(parse("--json", "--out", str(out_file)), {"b": 1, "a": "ünï"})
    assert capsys.readouterr().out == text == '{\n  "a": "\\u00fcn\\u00ef",\n  "b": 1\n}\n'  # json.dumps' ASCII
    assert out_file.read_bytes() == text.encode("utf-8")
    assert "schema" not in json.loads(text)  # not a releng/ document


def test_emit_json_one_line_and_out_dash(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.emit_json(parse("--out", "-"), {"b": [1, 2], "a": None}, indent=None) == '{"a": null, "b": [1, 2]}\n'
    assert capsys.readouterr().out == '{"a": null, "b": [1, 2]}\n'
    assert list(tmp_path.iterdir()) == []  # no file called "-"
    assert cli.emit_json(parse(), {"a": 1}) is None
    cli.emit_json(parse("--out", "o.json"), {"a": 1})
    assert capsys.readouterr().out == "" and (tmp_path / "o.json").read_text() == '{\n  "a": 1\n}\n'


# --- messages and colour -------------------------------------------------------------------------------------------

def test_warn_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    cli.warn("ignoring tag 'x':\n not SemVer")
    for argv in ([], ["-v"], ["-q"], ["-qq"]):
        args = parse(*argv)
        cli.info(args, f"{argv} normal")
        cli.info(args, f"{argv} verbose", level=1)
        cli.info(args, f"{argv} important", level=-1)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "warning: ignoring tag 'x': not SemVer",
        "[] normal", "[] important",
        "['-v'] normal", "['-v'] verbose", "['-v'] important",
        "['-q'] important",
    ]


@pytest.fixture
def tty() -> io.TextIOWrapper:
    master, slave = os.openpty()
    stream = open(slave, "w")  # noqa: SIM115 - closed below
    yield stream
    stream.close()
    os.close(master)


def test_color_on_a_terminal(tty: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert tty.isatty()
    assert cli.color(tty) is True


@pytest.mark.parametrize("value", ["1", "0", "true", "anything"])
def test_no_color_set(tty: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NO_COLOR", value)
    assert cli.color(tty) is False


def test_no_color_empty_is_unset(tty: io.TextIOWrapper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: "present and not an empty string"
    assert cli.color(tty) is True


def test_no_color_when_not_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli.color(io.StringIO()) is False
    with open(tmp_path / "f", "w") as f:
        assert cli.color(f) is False
    r, w = os.pipe()
    with open(r) as reader, open(w, "w") as writer:
        assert cli.color(writer) is False and cli.color(reader) is False


# --- in a real process: no traceback, and a closed pipe is not an error -------------------------------------------

PROGRAM = textwrap.dedent('''
    import sys
    from releng import cli

    def main(args):
        if args.what == "crash":
            {}["missing"]
        for _ in range(200_000):
            sys.stdout.write("line of output\\n")
        return 0

    p = cli.parser("test program", "prog")
    p.add_argument("what")
    sys.exit(cli.run(main, p.parse_args()))
''')


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return path


def test_internal_error_in_a_process(program: Path) -> None:
    proc = subprocess.run([sys.executable, str(program), "crash"], capture_output=True, text=True)
    assert proc.returncode == 3
    assert proc.stderr == "error: internal: KeyError: 'missing' (rerun with --debug)\n"
    debug = subprocess.run([sys.executable, str(program), "crash", "--debug"], capture_output=True, text=True)
    assert debug.returncode == 3  # the same code as without --debug (issue 12), with the traceback
    assert "Traceback (most recent call last)" in debug.stderr and "KeyError: 'missing'" in debug.stderr


def test_closed_pipe_is_not_an_error(program: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(program), "print"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(15) == b"line of output\n"
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert err == b""
