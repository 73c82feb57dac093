"""Every ``labellake`` command documents itself: ``--help`` ends with runnable examples."""

from __future__ import annotations

import argparse

from jobs.cli.main import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # argparse has no public walk over sub-commands
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                nested = _commands(child, f"{prefix}{name} ")
                found.update(nested or {f"{prefix}{name}": child})
    return found


def test_every_command_has_examples_that_name_itself() -> None:
    commands = _commands(build_parser())
    assert {"run", "query", "report", "spark-sql", "history", "diff", "lfs", "tables", "bench incremental"} <= set(
        commands
    )
    for name, parser in commands.items():
        text = parser.format_help()
        assert "examples:" in text, name
        assert f"labellake {name}" in text.split("examples:")[1], name


def test_scriptable_commands_take_json() -> None:
    commands = _commands(build_parser())
    for name in (
        "run",
        "summary",
        "tables",
        "history",
        "diff",
        "lfs",
        "report",
        "bench lfs",
        "bench label-model",
        "bench incremental",
        "label-model eval",
    ):
        assert "--json" in commands[name].format_help(), name


def test_stage_modules_leave_great_expectations_to_the_stages_that_validate() -> None:
    """Importing GX costs seconds of CPU; a reused stage or a query must not pay it."""
    import subprocess
    import sys

    code = (
        "import sys, jobs.cli.main, jobs.pipeline, jobs.stages.ingest.stage, jobs.stages.apply.stage, "
        "jobs.stages.validate;"
        "print('great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-2000:]


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch, caplog) -> None:
    """A bug still ends in one line (exit 1) naming --debug; --debug shows the traceback (issue 32)."""
    import logging

    import pytest

    import jobs.cli.read_commands as read_commands
    from jobs.cli.main import main

    def broken(args: object) -> int:
        raise RuntimeError("boom\non two lines")

    monkeypatch.setattr(read_commands, "_cmd_tables", broken)
    with caplog.at_level(logging.ERROR, logger="labellake"):
        assert main(["tables"]) == 1
    (record,) = caplog.records
    assert (
        record.getMessage()
        == "unexpected RuntimeError: boom on two lines (a bug: run again with --debug for the traceback)"
    )
    assert record.exc_info is None
    with pytest.raises(RuntimeError, match="boom"):
        main(["--debug", "tables"])
