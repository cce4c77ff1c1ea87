"""`lvstop lab` on the host: argument handling and one-line errors (no VM booted here)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from lvstop.cli import main
from lvstop.commands import lab as lab_cmd


def lvstop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "lvstop", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=60,
    )


def test_run_without_a_command_is_a_one_line_error() -> None:
    proc = lvstop("lab", "run")
    assert proc.returncode == 2
    assert proc.stderr == "lvstop: give a command: lvstop lab run [--node NODE] -- COMMAND...\n"


def test_fault_outside_the_vm_says_where_it_works() -> None:
    proc = lvstop("lab", "fault", "keepalived-stop", "node=d1")
    assert proc.returncode == 2
    assert proc.stderr.startswith("lvstop: this only works inside the lab VM")
    assert proc.stderr.count("\n") == 1


def test_fault_list_and_bad_param_syntax() -> None:
    listing = lvstop("lab", "fault")
    assert listing.returncode == 0
    for name in ("keepalived-kill", "vrrp-cut", "netem", "rogue-start", "load-start"):
        assert f"  {name}" in listing.stdout
    bad = lvstop("lab", "fault", "netem", "delay")
    assert bad.returncode == 2 and "write KEY=VALUE" in bad.stderr


def test_console_modes_need_a_terminal() -> None:
    proc = lvstop("lab", "shell")
    assert proc.returncode == 2
    assert "needs a terminal" in proc.stderr


def test_unknown_node_is_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["lab", "run", "--node", "d9", "--", "true"])
    assert exc.value.code == 2
    assert "invalid choice: 'd9'" in capsys.readouterr().err


def test_dashboard_is_detected_or_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # `lvstop top --lab` exists in this tree; the fallback is used when it does not.
    assert lab_cmd.dashboard_available()
    calls = []

    def console(args: argparse.Namespace, argv: list[str], node: str, what: str) -> int:
        calls.append((argv, node, what))
        return 0

    monkeypatch.setattr(lab_cmd, "dashboard_available", lambda: False)
    monkeypatch.setattr(lab_cmd, "_console", console)
    assert lab_cmd._dashboard(argparse.Namespace()) == 0
    ((argv, node, what),) = calls
    assert node == "d1" and what == "shell" and "ipvsadm -Ln" in argv[-1]
