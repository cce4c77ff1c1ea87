import subprocess
import sys

from lvstop import __version__
from lvstop.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_subcommands_without_root():
    out = subprocess.run(
        [sys.executable, "-m", "lvstop", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: lvstop" in out
