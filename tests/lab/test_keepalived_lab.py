"""keepalived awareness against the real keepalived 2.2.7 in the UML lab.

Each test reads d1 the way `lvstop keepalived` does (its config from the running keepalived's
command line, its data/JSON dumps by signal, the IPVS table by netlink, all from inside d1's
netns), injects a fault and checks the drift verdicts. What was read is saved under
.lab/keepalived-record/<test>/ (config, dumps, lvstop.dump/1 JSON): the host's drift unit tests
replay copies of those recordings (tests/data/keepalived/lab/).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lvstop.lab import runtime
from lvstop.lab.topology import keepalived_config

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

VIP1, VIP2 = "10.0.5.96", "10.0.5.97"
RS1, RS2 = "10.0.5.91", "10.0.5.92"
D1, D2 = "10.0.5.90", "10.0.5.93"
RECORD = Path(__file__).resolve().parents[2] / ".lab" / "keepalived-record"


def view(lab: LabHandle, node: str = "d1") -> dict[str, Any]:
    from lvstop.commands.keepalived import gather

    args = argparse.Namespace(config=None, config_id=None, keepalived_state=True, no_kernel=False)
    with lab.netns(node):
        return gather(args)


def view_when(lab: LabHandle, pred: Any, node: str = "d1") -> Any:
    """A view of ``node`` when ``pred(view)`` holds, else None (for ``lab.wait_until``)."""

    def attempt() -> Any:
        pieces = view(lab, node)
        return pieces if pred(pieces) else None

    return attempt


def record(name: str, pieces: dict[str, Any], node: str = "d1") -> None:
    """Save what was read (for the host's replay tests)."""
    out = RECORD / name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(pieces["config"].files[0], out / "keepalived.conf")
    runtime_ = pieces["runtime"]
    for dump in runtime_.dumps if runtime_ is not None else ():
        if dump.status == "fresh" and os.path.exists(dump.path):
            shutil.copy(dump.path, out / os.path.basename(dump.path))
    if pieces["ipvs"] is not None:
        (out / "ipvs.json").write_text(json.dumps(pieces["ipvs"].to_dict(), indent=1))
    (out / "node").write_text(node + "\n")


def rs_verdict(pieces: dict[str, Any], vip: str, rs: str) -> Any:
    return pieces["drift"].real_server(f"tcp:{vip}:8888->{rs}:8888")


def test_processes_of_this_netns(lab: LabHandle) -> None:
    from lvstop.sources.keepalived_state import find_processes, own_netns_processes

    everything = find_processes()
    with lab.netns("d1"):
        mine = os.readlink("/proc/thread-self/ns/net")
        here = own_netns_processes(everything)
    directors = [p for p in everything if p.role == "parent" and p.netns_name in ("d1", "d2")]
    assert len(directors) == 2, (everything, mine)
    assert sorted(p.role for p in here) == ["checker", "parent", "vrrp"], (everything, mine)


def test_healthy_lab_has_no_drift(lab: LabHandle) -> None:
    pieces = lab.wait_until(
        view_when(lab, lambda p: not p["drift"].problems()),
        timeout=15,
        what="d1 without drift",
    )
    record("healthy", pieces)
    rt = pieces["runtime"]
    assert rt.running and rt.parent.netns_name == "d1"
    roles = sorted(p.role for p in rt.processes)
    assert roles == ["checker", "parent", "vrrp"]
    assert rt.config_path.endswith("/d1/keepalived.conf")
    assert dict(rt.signal_numbers) == {"DATA": 10, "JSON": 36}
    statuses = {d.kind: d.status for d in rt.dumps}
    assert statuses == {"data": "fresh", "check_data": "fresh", "json": "fresh"}
    assert {i.name: i.state for i in rt.instances} == {"VI_1": "MASTER", "VI_2": "BACKUP"}
    drift = pieces["drift"]
    assert drift.instance_name(51) == "VI_1" and drift.vip_name(VIP2) == "VI_2"
    verdicts = {rs.key: rs.verdict for vs in drift.virtual_servers for rs in vs.real_servers}
    assert set(verdicts.values()) == {"ok"} and len(verdicts) == 4


def test_stopped_real_server_is_removed_with_its_checker(lab: LabHandle) -> None:
    lab.fault("rs-stop", node="rs1")
    pieces = lab.wait_until(
        view_when(
            lab,
            lambda p: (
                rs_verdict(p, VIP1, RS1).verdict == "removed"
                and rs_verdict(p, VIP2, RS1).verdict == "removed"
            ),
        ),
        timeout=20,
        what="rs1 removed by its TCP_CHECK on d1",
    )
    record("rs1-stopped", pieces)
    rs1 = rs_verdict(pieces, VIP1, RS1)
    assert rs1.failing_checks == ("TCP_CHECK :8888",), pieces["runtime"].dumps
    assert "TCP_CHECK :8888 failing" in rs1.detail
    assert rs1.kernel_weight is None
    assert rs_verdict(pieces, VIP1, RS2).verdict == "ok"
    # the same seen from the command line, as JSON
    proc = lab.run("d1", [".venv/bin/python", "-m", "lvstop", "keepalived", "--json"])
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "lvstop.keepalived/1"
    got = {
        rs["key"]: rs["verdict"]
        for vs in doc["drift"]["virtual_servers"]
        for rs in vs["real_servers"]
    }
    assert got[f"tcp:{VIP1}:8888->{RS1}:8888"] == "removed"


def _d1_config_with(extra_rs_line: str) -> str:
    text = keepalived_config(default_topology(), "d1")
    return text.replace("        weight 1\n", f"        weight 1\n        {extra_rs_line}\n")


def default_topology() -> Any:
    from lvstop.lab.topology import default_topology as topo

    return topo()


def _reload_d1(lab: LabHandle, text: str) -> None:
    runtime.write_keepalived_config("d1", text)
    pid = runtime.keepalived_main_pid("d1")
    assert pid is not None
    os.kill(pid, signal.SIGHUP)


def test_inhibit_on_failure_shows_inhibited(lab: LabHandle) -> None:
    original = keepalived_config(default_topology(), "d1")
    try:
        _reload_d1(lab, _d1_config_with("inhibit_on_failure"))
        lab.wait_until(
            lambda: all(
                rs.inhibit_on_failure
                for vs in view(lab)["config"].virtual_servers
                for rs in vs.real_servers
            ),
            timeout=10,
            what="d1 reloaded with inhibit_on_failure",
        )
        lab.fault("rs-stop", node="rs1")
        pieces = lab.wait_until(
            view_when(lab, lambda p: rs_verdict(p, VIP1, RS1).verdict == "inhibited"),
            timeout=20,
            what="rs1 inhibited (weight 0) on d1",
        )
        record("rs1-inhibited", pieces)
        rs1 = rs_verdict(pieces, VIP1, RS1)
        assert rs1.kernel_weight == 0 and rs1.configured_weight == 1
        assert "inhibit_on_failure" in rs1.detail
        assert rs1.failing_checks == ("TCP_CHECK :8888",)
        assert lab.ipvs("d1")[f"TCP {VIP1}:8888"]  # still listed, at weight 0
    finally:
        _reload_d1(lab, original)
        lab.fault("rs-start", node="rs1")


def test_manual_weight_change_is_flagged(lab: LabHandle) -> None:
    lab.wait_until(lambda: not view(lab)["drift"].problems(), timeout=15, what="healthy d1")
    lab.run("d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS2}:8888", "-g", "-w", "5"])
    try:
        pieces = view(lab)
        record("rs2-weight-5", pieces)
        rs2 = rs_verdict(pieces, VIP1, RS2)
        assert rs2.verdict == "changed"
        assert (rs2.kernel_weight, rs2.configured_weight, rs2.keepalived_weight) == (5, 1, 1)
        assert "reload" in rs2.detail
        assert rs_verdict(pieces, VIP2, RS2).verdict == "ok"
        # a real server added by hand is unknown to keepalived
        lab.run("d1", ["ipvsadm", "-a", "-t", f"{VIP1}:8888", "-r", "10.0.5.100:8888", "-g"])
        unknown = rs_verdict(view(lab), VIP1, "10.0.5.100")
        assert unknown is not None and unknown.verdict == "unknown"
    finally:
        lab.run("d1", ["ipvsadm", "-d", "-t", f"{VIP1}:8888", "-r", "10.0.5.100:8888"], check=False)
        lab.run("d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS2}:8888", "-g", "-w", "1"])


def _wire_masters(lab: LabHandle, node: str, seconds: float = 2.5) -> dict[tuple[str, int], str]:
    from lvstop.sources.vrrp_capture import VrrpCapture

    masters: dict[tuple[str, int], tuple[int, str]] = {}

    def on_advert(adv: Any) -> None:
        if adv.valid and adv.vrid is not None:
            best = masters.get((adv.family, adv.vrid))
            if best is None or (adv.priority or 0) >= best[0]:
                masters[(adv.family, adv.vrid)] = (adv.priority or 0, adv.src)

    async def listen() -> None:
        cap = VrrpCapture(["eth0"], on_advert)
        cap.open()
        cap.start()
        await asyncio.sleep(seconds)
        cap.drain()
        cap.close()

    with lab.netns(node):
        asyncio.run(listen())
    return {key: src for key, (_prio, src) in masters.items()}


def test_keepalived_state_matches_the_wire_after_failover(lab: LabHandle) -> None:
    from lvstop.track.drift import compute_drift

    lab.fault("keepalived-stop", node="d1")
    lab.wait_until(lambda: VIP1 in lab.addresses("d2"), timeout=10, what="VIP1 on d2")
    pieces = lab.wait_until(
        view_when(
            lab,
            lambda p: (
                p["runtime"].instance("VI_1") is not None
                and p["runtime"].instance("VI_1").state == "MASTER"
            ),
            node="d2",
        ),
        timeout=10,
        what="keepalived on d2 reporting VI_1 MASTER",
    )
    record("failover-d2", pieces, node="d2")
    wire = _wire_masters(lab, "d2")
    assert wire[("inet", 51)] == D2 and wire[("inet", 52)] == D2
    drift = compute_drift(
        pieces["config"], pieces["ipvs"], pieces["runtime"], wire, {D2, VIP1, VIP2}
    )
    by_name = {i.name: i for i in drift.instances}
    assert by_name["VI_1"].keepalived_state == "MASTER" and by_name["VI_1"].wire_state == "MASTER"
    assert by_name["VI_1"].agree is True and by_name["VI_2"].agree is True
    assert by_name["VI_1"].configured_state == "BACKUP"  # d2 is VI_1's configured backup
    # the CLI does the same with --listen
    proc = lab.run(
        "d2", [".venv/bin/python", "-m", "lvstop", "keepalived", "--json", "--listen", "2.5"]
    )
    doc_instances = {i["name"]: i for i in json.loads(proc.stdout)["drift"]["instances"]}
    assert doc_instances["VI_1"]["wire_state"] == "MASTER"
    assert doc_instances["VI_1"]["agree"] is True
    # d1's keepalived is gone: no runtime there, and the CLI says so
    conf = os.path.join(lab.node_dir("d1"), "keepalived.conf")
    proc = lab.run("d1", [".venv/bin/python", "-m", "lvstop", "keepalived", "--config", conf])
    assert "keepalived  not running" in proc.stdout
    proc = lab.run("d1", [".venv/bin/python", "-m", "lvstop", "keepalived"], check=False)
    assert proc.returncode == 2 and "keepalived is not running here" in proc.stderr


def test_stale_and_missing_dumps_are_reported(lab: LabHandle) -> None:
    from lvstop.sources.keepalived_state import find_processes, read_runtime

    procs = find_processes()
    parent = next(p for p in procs if p.role == "parent" and p.netns_name == "d1")
    chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
    vrrp = next(p for p in chosen if p.role == "vrrp")
    os.kill(vrrp.pid, signal.SIGSTOP)  # a stuck VRRP child cannot answer
    try:
        rt = read_runtime(processes=chosen, wait=1.0)
    finally:
        os.kill(vrrp.pid, signal.SIGCONT)
    statuses = {d.kind: d.status for d in rt.dumps}
    assert statuses["check_data"] == "fresh"
    assert statuses["data"] in ("stale", "missing") and statuses["json"] in ("stale", "missing")
    assert rt.instances is None and rt.virtual_servers is not None
