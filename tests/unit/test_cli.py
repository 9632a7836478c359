"""The operator command line finds its command groups and answers --help without infrastructure."""

from __future__ import annotations

import pytest

from shared.cli.__main__ import build_parser, main


def test_help_lists_every_command_group(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "BranchCare operator commands" in capsys.readouterr().out


def test_parser_builds() -> None:
    assert build_parser().prog == "branchcare"
