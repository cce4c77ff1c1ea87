import subprocess
import sys

import pytest

from lvstop import __version__
from lvstop.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_subcommands_without_root() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lvstop", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: lvstop" in out
