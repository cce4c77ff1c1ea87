"""The real dashboard, end to end, on director d1 of the lab: in tmux (send-keys /
capture-pane), reading the real kernel and the real wire; ipvsadm is the oracle.

Every wait is on what the screen or the kernel shows; its deadline is for an idle host and
grows with the host's load (``lab.wait_until``): a busy 2-core host slows the one-CPU VM.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lvstop.lab.handle import LabHandle
from tests.lab.tmux_client import tmux

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
#: each Dashboard has a tmux server of its own: a new session sent to the socket of a server
#: the last test killed can join it while it exits and vanish with it ("server exited
#: unexpectedly" in a loaded run)
_SOCKETS = itertools.count(1)
VIP1, VIP2 = "10.0.5.96", "10.0.5.97"
RS1, RS2 = "10.0.5.91", "10.0.5.92"
#: The services panel's title: on the screen from the first frame on, at any width (the
#: pollers start after it).
FIRST_FRAME = r"─Services─"
#: Seconds (idle host) for python, Textual and lvstop to start in the VM and draw.
STARTUP = 30.0
VRID51_D1 = r"\b51 +10\.0\.5\.90 +yes +100\b"
VRID52_D2 = r"\b52 +10\.0\.5\.93 +101\b"


class Dashboard:
    def __init__(self, lab: LabHandle, *extra: str) -> None:
        self.lab = lab
        self.socket = f"lvstop-dash-{os.getpid()}-{next(_SOCKETS)}"
        # audit log and drain state of this run stay in the lab folder, not the host's /var
        state = Path(tempfile.mkdtemp(dir=ROOT / ".lab", prefix="dash-"))
        argv = [
            "env",
            "TERM=xterm-256color",
            "LANG=C.UTF-8",
            f"LVSTOP_AUDIT_LOG={state / 'audit.log'}",
            f"LVSTOP_STATE_FILE={state / 'drained.json'}",
            sys.executable,
            "-m",
            "lvstop",
            "top",
            "--iface",
            "eth0",
            "--interval",
            "1",
            *extra,
        ]
        lab.run(
            "d1",
            [
                "tmux",
                "-L",
                self.socket,
                "new-session",
                "-d",
                "-s",
                "dash",
                "-x",
                "160",
                "-y",
                "48",
                *argv,
            ],
        )
        try:
            self.wait_for(FIRST_FRAME, timeout=STARTUP, what="the dashboard's first frame")
        except BaseException:
            self.close()
            raise

    def screen(self) -> str:
        return tmux(self.lab, self.socket, "capture-pane", "-p", "-t", "dash").stdout

    def press(self, key: str) -> None:
        """One key, unpaced: what it shows may be a notice that goes away, so the screen is
        read right after it."""
        tmux(self.lab, self.socket, "send-keys", "-t", "dash", key)

    def keys(self, *keys: str) -> None:
        # Paced: a key that moves the focus takes effect after the keys already queued
        # behind it, so each gets its turn (longer when the host is busy).
        for key in keys:
            self.press(key)
            time.sleep(self.lab.scaled(0.15))

    def type(self, text: str) -> None:
        tmux(self.lab, self.socket, "send-keys", "-t", "dash", "-l", text)
        time.sleep(self.lab.scaled(0.15))

    def filter(self, text: str) -> None:
        """``/``, then ``text`` once the filter line is open (it takes the focus)."""
        self.keys("/")
        # the footer shows the filter line's own key once it has the focus (the line itself
        # may be under a notification)
        self.wait_for(r"esc Clear filter", what="the filter line")
        self.type(text)

    def wait_for(self, pattern: str, timeout: float = 10.0, what: str = "") -> str:
        rx = re.compile(pattern, re.M)

        def seen() -> str | None:
            text = self.screen()
            return text if rx.search(text) else None

        try:
            return self.lab.wait_until(
                seen, timeout=timeout, what=what or f"screen shows {pattern}"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n{self.screen()}") from None

    def close(self) -> None:
        tmux(self.lab, self.socket, "kill-server", check=False)


def weight(lab: LabHandle, vip: str, rs: str) -> int | None:
    out = lab.run("d1", ["ipvsadm", "-Ln", "-t", f"{vip}:8888"]).stdout
    m = re.search(rf"->\s+{re.escape(rs)}:8888\s+\w+\s+(\d+)", out)
    return int(m.group(1)) if m else None


@pytest.fixture
def dash(lab: LabHandle) -> Iterator[Dashboard]:
    d = Dashboard(lab)
    try:
        yield d
    finally:
        d.close()


def test_dashboard_shows_vips_real_servers_and_masters(dash: Dashboard) -> None:
    dash.wait_for(rf"{VIP1}:8888", what="VIP 1's service")
    dash.wait_for(rf"{VIP2}:8888", what="VIP 2's service")
    dash.wait_for(rf"{RS1}:8888", what="rs1")
    dash.wait_for(rf"{RS2}:8888", what="rs2")
    # VRRP panel: VRID 51 mastered by d1 (this host), 52 by d2
    dash.wait_for(VRID51_D1, timeout=15, what="VRID 51: d1, here")
    dash.wait_for(VRID52_D2, timeout=15, what="VRID 52: d2")
    # keepalived's view of the real servers (config × its check state × kernel): both up
    dash.wait_for(rf"{RS1}:8888 .* up\b", timeout=20, what="rs1 up per keepalived")
    dash.wait_for(rf"{RS2}:8888 .* up\b", timeout=20, what="rs2 up per keepalived")


def test_drain_and_restore_rs1_with_confirm(dash: Dashboard, lab: LabHandle) -> None:
    dash.wait_for(rf"{RS1}:8888", what="rs1 listed")
    dash.filter("96")
    dash.keys("Enter", "Enter")  # keep the filter, then focus VIP 1's real servers
    dash.filter("91")
    dash.keys("Enter")
    dash.keys("d")
    dash.wait_for(rf"Drain {RS1}:8888 in TCP {VIP1}:8888", what="the confirm dialog")
    dash.wait_for(rf"ipvsadm -e -t {VIP1}:8888 -r {RS1}:8888 -g -w 0", what="the command")
    assert weight(lab, VIP1, RS1) == 1  # nothing happened before the confirmation
    dash.keys("y")
    lab.wait_until(
        lambda: weight(lab, VIP1, RS1) == 0, timeout=10, what="ipvsadm shows rs1 drained (weight 0)"
    )
    dash.wait_for(r"Draining", what="drain progress screen")
    dash.keys("Escape")
    dash.wait_for(r"0 ⇢1", what="rs1 marked drained with its return weight")
    dash.keys("r")
    dash.wait_for(rf"Restore {RS1}:8888", what="the restore confirm dialog")
    dash.keys("y")
    lab.wait_until(
        lambda: weight(lab, VIP1, RS1) == 1,
        timeout=10,
        what="ipvsadm shows rs1 restored (weight 1)",
    )
    assert weight(lab, VIP1, RS2) == 1


def test_cancel_changes_nothing(dash: Dashboard, lab: LabHandle) -> None:
    dash.wait_for(rf"{RS1}:8888", what="rs1 listed")
    dash.keys("Enter", "d")
    dash.wait_for(r"ipvsadm -e -t", what="the confirm dialog")
    dash.press("n")
    dash.wait_for(r"cancelled: nothing changed", what="the cancel notice")
    assert weight(lab, VIP1, RS1) == 1 and weight(lab, VIP2, RS1) == 1


def test_keepalived_stop_on_d2_shows_vrid52_failover_within_5s(
    dash: Dashboard, lab: LabHandle
) -> None:
    dash.wait_for(VRID52_D2, timeout=15, what="VRID 52: d2 first")
    start = time.monotonic()
    lab.fault("keepalived-stop", node="d2")
    dash.wait_for(r"\b52 +10\.0\.5\.90 +yes\b", timeout=5, what="VRRP panel: VRID 52 on d1")
    dash.wait_for(
        r"VRID 52 failover 10\.0\.5\.93 → 10\.0\.5\.90",
        timeout=5,
        what="event log: VRID 52 failover",
    )
    # 5.5 s on an idle host; a busy host slows the VM (and this test's own tmux polls)
    took, bound = time.monotonic() - start, lab.scaled(5.5)
    assert took <= bound, f"failover shown after {took:.1f}s (bound {bound:.1f}s)"


def test_lab_fault_keys(lab: LabHandle) -> None:
    dash = Dashboard(lab, "--lab")
    try:
        dash.wait_for(VRID52_D2, timeout=15, what="VRID 52: d2 first")
        dash.keys("3")  # lab key: keepalived-stop on d2
        dash.wait_for(r"lab: keepalived-stop", timeout=10, what="the fault's notice")
        dash.wait_for(
            r"VRID 52 failover 10\.0\.5\.93 → 10\.0\.5\.90",
            timeout=10,
            what="event log: VRID 52 failover",
        )
        dash.keys("4")  # keepalived-start on d2: it preempts back
        dash.wait_for(
            r"VRID 52 preempted: 10\.0\.5\.90 → 10\.0\.5\.93",
            timeout=15,
            what="event log: VRID 52 preempted by d2",
        )
    finally:
        dash.close()


def test_lab_keys_rs_stop_and_start(lab: LabHandle) -> None:
    """`!` stops rs1's HTTP service: keepalived's TCP_CHECK removes it from the kernel table,
    the dashboard logs it vanishing; `@` starts it and it comes back (ipvsadm the oracle)."""
    dash = Dashboard(lab, "--lab")
    try:
        dash.wait_for(rf"{RS1}:8888", what="rs1 listed")
        dash.wait_for(r"LAB fault keys .*! @ # \$", what="the lab strip")
        dash.keys("!")
        dash.wait_for(r"lab: rs-stop node=rs1", timeout=15, what="the fault's notice")
        lab.wait_until(
            lambda: weight(lab, VIP1, RS1) is None,
            timeout=20,
            what="ipvsadm: keepalived removed rs1",
        )
        dash.wait_for(rf"{RS1}:8888 vanished from", timeout=10, what="event log: rs1 vanished")
        dash.wait_for(r"lab rs-stop: ", what="the fault's result in the event log")
        dash.keys("@")
        lab.wait_until(lambda: weight(lab, VIP1, RS1) == 1, timeout=20, what="ipvsadm: rs1 back")
        dash.wait_for(rf"{RS1}:8888 appeared in", timeout=10, what="event log: rs1 appeared")
    finally:
        dash.close()


def test_incident_snapshot_saves_the_wire_adverts_as_pcap(lab: LabHandle) -> None:
    """`S` on the live dashboard: the JSON and, next to it, the VRRP packets captured on d1's
    eth0 as a pcap our reader (and tcpdump) reads: both VRIDs, both directors' adverts."""
    from lvstop.sources.pcap import PcapReader, read_adverts

    out = Path(tempfile.mkdtemp(dir=ROOT / ".lab", prefix="incident-"))
    dash = Dashboard(lab, "--incident-dir", str(out))
    try:
        # Both rows drawn: the capture behind the panel (and the snapshot's packet ring,
        # fed by the same capture) has had adverts of each director's VRID.
        dash.wait_for(VRID51_D1, timeout=15, what="VRID 51: d1")
        dash.wait_for(VRID52_D2, timeout=15, what="VRID 52: d2")
        dash.keys("S")
        lab.wait_until(
            lambda: list(out.glob("lvstop-incident-*.pcap")), timeout=10, what="the incident pcap"
        )
        (pcap,) = out.glob("lvstop-incident-*.pcap")
        (js,) = out.glob("lvstop-incident-*.json")
        assert pcap.stem == js.stem
        adverts = list(read_adverts(PcapReader(pcap)))
        seen = {(a.vrid, a.src) for a in adverts}
        assert {(51, "10.0.5.90"), (52, "10.0.5.93")} <= seen, seen
        tcpdump = lab.run("d1", ["tcpdump", "-nr", str(pcap)], check=False)
        if tcpdump.returncode != 127:  # tcpdump installed in the lab: it reads it too
            assert "VRRPv2" in tcpdump.stdout and "vrid 52" in tcpdump.stdout
    finally:
        dash.close()


def test_read_only_from_the_config_file(lab: LabHandle) -> None:
    conf = Path(tempfile.mkdtemp(dir=ROOT / ".lab", prefix="conf-")) / "lvstop.toml"
    conf.write_text("read_only = true\n", encoding="utf-8")
    dash = Dashboard(lab, "--config", str(conf))
    try:
        dash.wait_for(r"READ-ONLY", what="the READ-ONLY badge")
        dash.wait_for(rf"{RS1}:8888", what="rs1 listed")
        dash.keys("Enter", "d", "?")
        # Keys are handled in order: once help (after `d`) is up, `d` has had its effect.
        screen = dash.wait_for(
            r"ipvsadm -e|\bKey +Does\b", what="the help screen (or a dialog) after d"
        )
        assert "ipvsadm -e" not in screen  # no confirm dialog: no write key
        assert weight(lab, VIP1, RS1) == 1
    finally:
        dash.close()
