"""Under sudo (issue 10, item 8): a rule that allows lvstop must not let its user skip the
audit, choose root's files or lift read_only. Refusals are one line, before any file is made
or the kernel is asked; root itself is not restricted."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lvstop import cli, settings, sudo
from lvstop.commands import top

KEY = "tcp:10.0.5.96:8888->10.0.5.91:8888"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sudo runs lvstop as root")


@pytest.fixture
def under_sudo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """lvstop as `sudo` starts it for uid 1000; /etc/lvstop/lvstop.toml is a file of the
    test's (read_only = false until a test writes otherwise)."""
    conf = tmp_path / "etc" / "lvstop.toml"
    conf.parent.mkdir()
    conf.write_text("read_only = false\n")
    monkeypatch.setattr(settings, "DEFAULT_PATH", conf)
    monkeypatch.setenv("SUDO_UID", "1000")
    monkeypatch.setenv("SUDO_USER", "alice")
    for name in sudo.ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)
    return conf


def one_line_refusal(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert cli.main(argv) != 0
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.splitlines()) == 1, out.err
    return out.err


@pytest.mark.parametrize(
    "command",
    [["drain", KEY], ["restore", KEY], ["weight", KEY, "3"], ["timeouts", "60", "0", "0"]],
)
@pytest.mark.parametrize("option", ["--audit-log", "--state-file"])
def test_write_commands_refuse_file_overrides(
    under_sudo: Path,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: list[str],
    option: str,
) -> None:
    target = tmp_path / "elsewhere" / "file"
    err = one_line_refusal(capsys, [*command, option, str(target)])
    assert err.startswith(f"lvstop: {option} is not allowed under sudo: ")
    assert not target.parent.exists()


@pytest.mark.parametrize("name", sudo.ENV_OVERRIDES)
def test_variables_that_redirect_files_are_refused(
    under_sudo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    monkeypatch.setenv(name, str(tmp_path / "x"))
    for argv in (["drain", KEY], ["top", "--read-only"]):
        err = one_line_refusal(capsys, argv)
        assert err.startswith(f"lvstop: ${name} is not allowed under sudo: ")
    assert not (tmp_path / "x").exists()


def test_read_only_in_the_config_refuses_writes_under_sudo(
    under_sudo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    under_sudo.write_text("read_only = true\n")
    for argv in (["drain", KEY], ["weight", KEY, "3"], ["timeouts", "60", "0", "0"]):
        err = one_line_refusal(capsys, argv)
        assert err == (
            f"lvstop: writes are off on this host (read_only = true in {under_sudo});"
            " under sudo that is binding\n"
        )
    err = one_line_refusal(capsys, ["top", "--no-read-only"])
    assert err.startswith("lvstop: --no-read-only is not allowed under sudo: ")


def test_dashboard_reads_only_the_default_config(
    under_sudo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text("read_only = false\n")
    err = one_line_refusal(capsys, ["top", "--config", str(other)])
    assert err.startswith("lvstop: --config is not allowed under sudo: the dashboard reads ")
    # a root-only file is not read at all (no line of it can end up in an error)
    secret = tmp_path / "secret"
    secret.write_text("password = hunter2 [\n")
    secret.chmod(0o600)
    err = one_line_refusal(capsys, ["top", "--config", str(secret)])
    assert "hunter2" not in err
    err = one_line_refusal(capsys, ["top", "--incident-dir", str(tmp_path)])
    assert err.startswith("lvstop: --incident-dir is not allowed under sudo: ")
    # the default config itself, and the options that do not override it, are fine
    args = argparse.Namespace(
        config=str(under_sudo),
        interval=None,
        iface=None,
        read_only=True,
        theme=None,
        incident_dir=None,
    )
    assert top.resolve(args).read_only is True


def test_root_itself_is_not_restricted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SUDO_UID", raising=False)
    assert not sudo.restricted()
    monkeypatch.setenv("SUDO_UID", "0")  # root ran sudo
    assert not sudo.restricted()
    monkeypatch.setenv("SUDO_UID", "1000")
    assert sudo.restricted() and sudo.invoking_uid() == 1000
    # as root, an override goes through to the write (here refused by this host's kernel,
    # which has no IPVS: a different one-line error, after the override was accepted)
    state = tmp_path / "s" / "drained.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lvstop",
            "drain",
            KEY,
            "--state-file",
            str(state),
            "--audit-log",
            str(tmp_path / "audit.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("SUDO_")},
    )
    assert "under sudo" not in proc.stderr and proc.stderr.startswith("lvstop: ")


def test_a_new_process_with_sudos_variables_is_restricted(tmp_path: Path) -> None:
    # the variables sudo sets for the command it runs (uid 1000 ran `sudo lvstop ...`)
    proc = subprocess.run(
        [
            "/usr/bin/env",
            "SUDO_UID=1000",
            "SUDO_USER=alice",
            sys.executable,
            "-m",
            "lvstop",
            "drain",
            KEY,
            "--audit-log",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith("lvstop: --audit-log is not allowed under sudo")
