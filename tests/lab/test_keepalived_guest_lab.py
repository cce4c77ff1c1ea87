"""lvstop as keepalived's guest, against the real keepalived 2.2.7 of the lab (issues 10 §1,
11 §2, §3): an impostor named keepalived is ignored and nothing it names is executed; an open
dashboard sends keepalived no signal in steady state and one round when a real server's
check fails; the header shows d1's own keepalived and NOT RUNNING when it is dead; the
kill -9 / start / drain sequence shows no exception name."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lvstop.lab import runtime
from tests.lab.test_dashboard import RS1, RS2, VIP1, Dashboard

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

PY = [".venv/bin/python", "-m", "lvstop"]
ON_SIGNAL = re.compile(r"on signal", re.I)


def keepalived_log(node: str = "d1") -> Path:
    return runtime.node_dir(node) / "keepalived.log"


def signal_lines(since: int, node: str = "d1") -> list[str]:
    """keepalived's "Printing … on signal" lines logged after byte ``since`` of its log."""
    with keepalived_log(node).open("rb") as handle:
        handle.seek(since)
        text = handle.read().decode(errors="replace")
    return [line for line in text.splitlines() if ON_SIGNAL.search(line)]


def log_size(node: str = "d1") -> int:
    return keepalived_log(node).stat().st_size


@pytest.fixture
def impostor(lab: LabHandle) -> Iterator[tuple[int, Path]]:
    """In d1's netns, as nobody: a copy of sleep named keepalived, then deleted, with a script
    left at 'keepalived (deleted)' that would leave a marker if root ran it."""
    folder = Path(tempfile.mkdtemp(prefix="ka-impostor-", dir="/run"))
    folder.chmod(0o755)
    fake = folder / "keepalived"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake)
    fake.chmod(0o755)
    marker = folder / "RAN"
    proc = subprocess.Popen(
        runtime.ns_argv(
            "d1",
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(fake), "600"],
        )
    )
    try:
        from lvstop.sources.keepalived_state import scan_processes

        pid = lab.wait_until(
            lambda: next((i["pid"] for i in scan_processes() if i["pid"] == proc.pid), None),
            timeout=30,
            what="the impostor running as keepalived",
        )
        fake.unlink()
        script = folder / "keepalived (deleted)"
        script.write_text(f"#!/bin/sh\ntouch {marker}\necho 10\n")
        script.chmod(0o755)
        assert os.readlink(f"/proc/{pid}/exe") == str(script)
        yield pid, marker
    finally:
        proc.kill()  # ip netns exec and setpriv exec: this is the impostor itself
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_an_impostor_run_by_nobody_is_ignored_and_never_run(
    lab: LabHandle, impostor: tuple[int, Path]
) -> None:
    pid, marker = impostor
    real = runtime.keepalived_main_pid("d1")
    out = lab.run("d1", [*PY, "keepalived"]).stdout
    assert f"keepalived  pid {real} " in out, out
    assert f"ignored pid {pid} named keepalived: runs as uid 65534, not root" in out, out
    doctor = lab.run("d1", [*PY, "doctor", "--listen", "0"], check=False)
    assert f"keepalived pid {real} with 2 children" in doctor.stdout, doctor.stdout
    assert str(pid) not in doctor.stdout
    # the dashboard's poller, asked for a round of dumps
    from lvstop.sources.ipvs import read_snapshot
    from lvstop.tui.real import KeepalivedDriftStates

    states = KeepalivedDriftStates()
    with lab.netns("d1"):
        states.refresh(read_snapshot(), ask=True)
    view = states.view()
    assert view.running and view.asked and view.dumped_at is not None, view
    assert not marker.exists(), "something ran the script the impostor's exe link names"


@pytest.mark.long
def test_dashboard_is_a_quiet_guest_then_one_round_when_a_check_fails(lab: LabHandle) -> None:
    """3 minutes of steady traffic with the dashboard open: no "on signal" line in d1's
    keepalived log; rs1's service stopped: keepalived's verdict after one round."""
    lab.fault("load-start", rate=20, duration=600)
    dash = Dashboard(lab)
    try:
        dash.wait_for(rf"{RS1}:8888 .* up\b", timeout=60, what="rs1 up (config × kernel)")
        dash.wait_for(
            r"Real servers · keepalived: config × kernel · K asks",
            timeout=30,
            what="the view's origin in the real servers' title",
        )
        start = log_size()
        # steady traffic for 3 minutes (a hold, not a wait): the dashboard stays quiet
        until = time.monotonic() + 180
        while time.monotonic() < until:
            assert not signal_lines(start), signal_lines(start)
            time.sleep(5)
        assert not signal_lines(start), signal_lines(start)
        assert "CPS" in dash.screen()
        before_stop = log_size()
        lab.fault("rs-stop", node="rs1")
        screen = dash.wait_for(
            rf"{RS1}:8888: removed: removed by keepalived",
            timeout=90,
            what="keepalived's verdict for rs1 in the log",
        )
        assert "asked keepalived for its state (the kernel table changed)" in screen
        lines = signal_lines(before_stop)
        vrrp_data = [line for line in lines if "VRRP data" in line]
        checker = [line for line in lines if "checker data" in line.lower()]
        assert len(vrrp_data) == 1 and len(checker) == 1, lines  # one round
    finally:
        dash.close()
        lab.fault("load-stop")


def test_header_shows_d1s_keepalived_and_kill_start_drain_shows_no_exception(
    lab: LabHandle,
) -> None:
    dash = Dashboard(lab, "--lab")
    try:
        d1 = runtime.keepalived_main_pid("d1")
        d2 = runtime.keepalived_main_pid("d2")
        assert d1 and d2
        dash.wait_for(rf"keepalived up .*pid {d1}\b", timeout=30, what="d1's keepalived pid")
        assert str(d2) not in dash.screen().splitlines()[0]
        dash.keys("9")  # kill -9 d1's keepalived
        dash.wait_for(r"keepalived NOT RUNNING", timeout=30, what="NOT RUNNING after kill -9")
        dash.keys("2")  # start it again
        new = lab.wait_until(
            lambda: runtime.keepalived_main_pid("d1"), timeout=30, what="d1's keepalived back"
        )
        assert new != d1
        dash.wait_for(rf"keepalived up .*pid {new}\b", timeout=30, what="the new pid")
        dash.wait_for(rf"{RS1}:8888", timeout=30, what="rs1 back in the table")
        # the header reads processes every second, the keepalived poller every 2 s: the
        # warning comes from the poller's view of the new keepalived
        dash.wait_for(
            r"Real servers · keepalived(: config × kernel|'s view)",
            timeout=30,
            what="the keepalived poller's view of the new keepalived",
        )
        dash.keys("Enter", "d")
        dash.wait_for(rf"Drain 10\.0\.5\.9[12]:8888 in TCP {VIP1}:8888", what="the dialog")
        dash.wait_for(r"keepalived manages this real server", what="keepalived's warning")
        dash.wait_for(r"\(/run/lvstop-lab/d1/keepalived\.conf:\d+\)", what="its FILE:LINE")
        dash.keys("y")
        dash.wait_for(r"Draining", timeout=20, what="the drain done")
        dash.keys("Escape")
        screen = dash.screen()
        for bad in ("KeyError", "Error:", "unexpected problem", "Traceback"):
            assert bad not in screen, screen
    finally:
        dash.close()
        for rs in (RS1, RS2):
            lab.run(
                "d1",
                ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{rs}:8888", "-g", "-w", "1"],
                check=False,
            )
