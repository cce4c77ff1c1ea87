"""`lvstop doctor` in the UML lab: the healthy lab passes; each broken thing fails its check
with the right fix. Runs the real CLI in a node's netns (`lab.run`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lvstop.lab import runtime
from lvstop.lab.topology import default_topology, keepalived_config

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

PY = ".venv/bin/python"


def doctor(lab: LabHandle, node: str, *args: str) -> tuple[int, dict[str, dict[str, str]]]:
    proc = lab.run(node, [PY, "-m", "lvstop", "doctor", "--json", *args], check=False, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout.startswith("{"), proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "lvstop.doctor/1"
    return proc.returncode, {c["id"]: c for c in doc["checks"]}


def config_file(tmp_name: str, text: str) -> str:
    path = Path(runtime.node_dir("client")) / tmp_name
    path.write_text(text)
    return str(path)


def d1_config() -> str:
    return str(Path(runtime.node_dir("d1")) / "keepalived.conf")


def test_healthy_director_passes(lab: LabHandle) -> None:
    d2 = config_file("d2.conf", keepalived_config(default_topology(), "d2"))
    code, checks = doctor(lab, "d1", "--peer-config", d2)
    failed = {k: v for k, v in checks.items() if v["status"] == "fail"}
    assert code == 0, failed
    for check_id in (
        "ipvs.present",
        "keepalived.running",
        "keepalived.config",
        "vrrp.foreign_vrid",
        "peer.vrrp_equal",
        "peer.state_priority",
        "peer.virtual_servers",
        "peer.instances",
        "peer.router_id",
    ):
        assert checks[check_id]["status"] == "ok", checks[check_id]
    assert checks["ip.forward"]["status"] == "skip"  # DR only
    assert checks["ipvs.timeouts"]["status"] == "warn"  # the 900/120/300 defaults


def test_healthy_real_server_passes(lab: LabHandle) -> None:
    code, checks = doctor(lab, "rs1", "--config", d1_config())
    assert code == 0, checks
    assert {k: v["status"] for k, v in checks.items()} == {
        "rs.vip_on_lo": "ok",
        "rs.arp_ignore": "ok",
        "rs.arp_announce": "ok",
        "rs.rp_filter": "ok",
    }
    # without a config it finds the VIPs on lo by itself
    code, checks = doctor(lab, "rs1")
    assert code == 0 and "10.0.5.96" in checks["rs.vip_on_lo"]["summary"]


def _sysctl(lab: LabHandle, node: str, path: str, value: str) -> None:
    lab.run(node, ["sh", "-c", f"echo {value} > /proc/sys/{path}"])


def test_arp_sysctls_on_rs1(lab: LabHandle) -> None:
    try:
        _sysctl(lab, "rs1", "net/ipv4/conf/all/arp_ignore", "0")
        _sysctl(lab, "rs1", "net/ipv4/conf/lo/arp_announce", "0")
        code, checks = doctor(lab, "rs1", "--config", d1_config())
        assert code == 1
        assert checks["rs.arp_ignore"]["status"] == "fail"
        assert "sysctl -w net.ipv4.conf.all.arp_ignore=1" in checks["rs.arp_ignore"]["fix"]
        assert checks["rs.arp_announce"]["status"] == "fail"
        assert "net.ipv4.conf.lo.arp_announce=2" in checks["rs.arp_announce"]["fix"]
        assert checks["rs.vip_on_lo"]["status"] == "ok"
    finally:
        _sysctl(lab, "rs1", "net/ipv4/conf/all/arp_ignore", "1")
        _sysctl(lab, "rs1", "net/ipv4/conf/lo/arp_announce", "2")


def test_vip_off_lo(lab: LabHandle) -> None:
    lab.run("rs1", ["ip", "addr", "del", "10.0.5.96/32", "dev", "lo"])
    try:
        code, checks = doctor(lab, "rs1", "--config", d1_config())
        assert code == 1
        check = checks["rs.vip_on_lo"]
        assert check["status"] == "fail" and "10.0.5.96 is not on this host" in check["summary"]
        assert check["fix"] == "ip addr add 10.0.5.96/32 dev lo"
        # the notes' mistake: the VIP on lo with the network's prefix
        lab.run("rs1", ["ip", "addr", "add", "10.0.5.96/20", "dev", "lo"])
        code, checks = doctor(lab, "rs1", "--config", d1_config())
        assert code == 1 and "10.0.5.96/20 on lo" in checks["rs.vip_on_lo"]["summary"]
        assert "ip addr add 10.0.5.96/32 dev lo" in checks["rs.vip_on_lo"]["fix"]
    finally:
        lab.run("rs1", ["ip", "addr", "del", "10.0.5.96/20", "dev", "lo"], check=False)
        lab.run("rs1", ["ip", "addr", "add", "10.0.5.96/32", "dev", "lo"], check=False)


def test_mismatched_peer_config(lab: LabHandle) -> None:
    good = keepalived_config(default_topology(), "d2")
    bad = good.replace("virtual_router_id 51", "virtual_router_id 61").replace(
        "priority 10\n", "priority 100\n"
    )
    assert bad != good
    code, checks = doctor(
        lab, "d1", "--peer-config", config_file("d2-bad.conf", bad), "--listen", "0"
    )
    assert code == 1
    assert checks["peer.vrrp_equal"]["status"] == "fail"
    assert "virtual_router_id 51 vs 61" in checks["peer.vrrp_equal"]["summary"]
    assert "identical on both directors" in checks["peer.vrrp_equal"]["fix"]
    assert checks["peer.state_priority"]["status"] == "fail"
    assert "both priority 100" in checks["peer.state_priority"]["summary"]
    weights = good.replace("        weight 1\n", "        weight 3\n", 1)
    code, checks = doctor(
        lab, "d1", "--peer-config", config_file("d2-w.conf", weights), "--listen", "0"
    )
    assert checks["peer.virtual_servers"]["status"] == "fail"
    assert "TCP 10.0.5.96:8888 differs" in checks["peer.virtual_servers"]["summary"]


def wait_for_adverts_from(lab: LabHandle, node: str, src: str, timeout: float = 20) -> None:
    """Block until ``node``'s eth0 has carried a VRRP advert from ``src`` (tcpdump the
    oracle); the deadline is for an idle host and grows with the host's load."""
    try:
        lab.run(
            node,
            ["tcpdump", "-c", "1", "-nli", "eth0", f"ip proto 112 and src host {src}"],
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"no VRRP advert from {src} on {node}'s eth0 within {lab.scaled(timeout):.0f}s")


def rogue_still_heard(lab: LabHandle) -> str:
    """tcpdump's view of the rogue's and VRID 51's adverts on d1, just after a failure."""
    proc = lab.run(
        "d1",
        ["timeout", "5", "tcpdump", "-c", "6", "-nli", "eth0", "ip proto 112"],
        check=False,
        timeout=10,
    )
    out: str = (proc.stdout + proc.stderr).strip()[-1500:]
    return out


def test_foreign_vrid(lab: LabHandle) -> None:
    # The rogue advertises once it has become master (its master-down interval, over 3 s);
    # it is deaf to the lab's adverts, so it keeps advertising (lab.faults._deafen_to_vrrp).
    lab.fault("rogue-start")
    wait_for_adverts_from(lab, "d1", "10.0.5.99")
    # 3.5 s of listening on an idle host; a busy one slows the VM: doctor listens longer
    code, checks = doctor(lab, "d1", "--listen", f"{lab.scaled(3.5):.1f}")
    check = checks["vrrp.foreign_vrid"]
    assert code == 1, (check, rogue_still_heard(lab))
    assert check["status"] == "fail"
    assert "VRID 51 from 10.0.5.99 announces 10.0.5.98" in check["summary"]
    assert "VRID unused on this LAN" in check["fix"]


def test_director_config_pitfalls(lab: LabHandle) -> None:
    text = keepalived_config(default_topology(), "d1")
    bad = (
        text.replace("    router_id d1\n", "    router_id d1\n    vrrp_strict\n")
        .replace("    advert_int 1\n", "    advert_int 1\n    nopreempt\n", 1)
        .replace("    lb_kind DR\n", "    lb_kind NAT\n    sorry_server 10.0.5.200 8888\n", 1)
        .replace("real_server 10.0.5.91 8888", "real_server 127.0.0.1 8888", 1)
    )
    assert bad.count("nopreempt") == 1 and "vrrp_strict" in bad
    code, checks = doctor(lab, "d1", "--config", config_file("d1-bad.conf", bad), "--listen", "0")
    assert code == 1
    # vrrp_strict demotes d1's initial MASTER to BACKUP before keepalived looks at nopreempt,
    # so there nopreempt holds (keepalived 2.2.7's order); without vrrp_strict it is cleared
    assert checks["vrrp.nopreempt"]["status"] == "ok"
    only_nopreempt = text.replace("    advert_int 1\n", "    advert_int 1\n    nopreempt\n", 1)
    _, alone = doctor(
        lab, "d1", "--config", config_file("d1-nopreempt.conf", only_nopreempt), "--listen", "0"
    )
    assert alone["vrrp.nopreempt"]["status"] == "fail", alone["vrrp.nopreempt"]
    assert checks["vrrp.strict"]["status"] == "warn"
    assert "ping and ssh to a VIP fail" in checks["vrrp.strict"]["summary"]
    assert checks["lvs.sorry_local"]["status"] == "warn"
    assert checks["ip.forward"]["status"] == "fail"  # NAT, and the lab's d1 does not forward
    assert checks["ip.forward"]["fix"].startswith("sysctl -w net.ipv4.ip_forward=1")


def test_expire_nodest_conn_follows_the_sysctl(lab: LabHandle) -> None:
    try:
        _sysctl(lab, "d1", "net/ipv4/vs/expire_nodest_conn", "1")
        _, checks = doctor(lab, "d1", "--listen", "0")
        assert checks["ipvs.expire_nodest_conn"]["status"] == "ok"
        _sysctl(lab, "d1", "net/ipv4/vs/expire_nodest_conn", "0")
        _, checks = doctor(lab, "d1", "--listen", "0")
        assert checks["ipvs.expire_nodest_conn"]["status"] == "warn"
        assert "expire_nodest_conn=1" in checks["ipvs.expire_nodest_conn"]["fix"]
    finally:
        _sysctl(lab, "d1", "net/ipv4/vs/expire_nodest_conn", "0")
