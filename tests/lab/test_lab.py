"""The lab itself, checked against the real thing: ip, ipvsadm, keepalived, HTTP answers."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from typing import Any

import pytest

from lvstop.lab.handle import LabHandle

pytestmark = pytest.mark.lab

VIP1, VIP2 = "10.0.5.96", "10.0.5.97"
RS = {"10.0.5.91:8888": "rs1", "10.0.5.92:8888": "rs2"}


def vips_on(lab: LabHandle, node: str) -> set[str]:
    out = lab.run(node, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    return set(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)) & {VIP1, VIP2}


def ipvsadm(lab: LabHandle, node: str) -> dict[str, set[str]]:
    """`ipvsadm -Ln` parsed: "VIP:port" -> real servers."""
    out = lab.run(node, ["ipvsadm", "-Ln"]).stdout
    table: dict[str, set[str]] = {}
    current = None
    for line in out.splitlines():
        m = re.match(r"TCP\s+(\S+)\s+rr", line)
        if m:
            current = table.setdefault(m.group(1), set())
        m = re.match(r"\s+->\s+(\d+\.\d+\.\d+\.\d+:\d+)\s+Route", line)
        if m and current is not None:
            current.add(m.group(1))
    return table


def fetch_tally(lab: LabHandle, vip: str, count: int = 6) -> dict[str, Any]:
    out = lab.run(
        "client",
        [
            sys.executable,
            "-m",
            "lvstop.lab.load",
            "--vip",
            vip,
            "--count",
            str(count),
            "--timeout",
            "2",
        ],
        timeout=60,
    ).stdout
    tally: dict[str, Any] = json.loads(out)
    return tally


def test_vips_held_by_their_masters(lab: LabHandle) -> None:
    assert vips_on(lab, "d1") == {VIP1}
    assert vips_on(lab, "d2") == {VIP2}


def test_each_virtual_service_has_rs1_and_rs2(lab: LabHandle) -> None:
    for director in ("d1", "d2"):
        table = ipvsadm(lab, director)
        assert table == {f"{VIP1}:8888": set(RS), f"{VIP2}:8888": set(RS)}, director


@pytest.mark.parametrize("vip", [VIP1, VIP2])
def test_client_load_through_each_vip_reaches_both_real_servers(lab: LabHandle, vip: str) -> None:
    tally = fetch_tally(lab, vip)
    assert tally["errors"][vip] == 0
    assert tally["by_vip"][vip] == {"rs1": 3, "rs2": 3}  # rr alternates


def test_real_server_answers_with_its_name(lab: LabHandle) -> None:
    out = lab.run(
        "client",
        [
            sys.executable,
            "-c",
            "import urllib.request as u;"
            "print(u.urlopen('http://10.0.5.92:8888/', timeout=3).read()"
            ".decode(), end='')",
        ],
    ).stdout
    assert out == "rs2\n"


def test_keepalived_stop_fails_over_and_start_preempts(lab: LabHandle) -> None:
    result = lab.fault("keepalived-stop", node="d1")
    assert "stopped" in result
    lab.wait_until(
        lambda: vips_on(lab, "d2") == {VIP1, VIP2}, timeout=10, what="d2 to take over 10.0.5.96"
    )
    assert vips_on(lab, "d1") == set()
    assert ipvsadm(lab, "d1") == {}  # a stopped keepalived removes its virtual services
    lab.fault("keepalived-start", node="d1")
    lab.wait_until(
        lambda: vips_on(lab, "d1") == {VIP1} and vips_on(lab, "d2") == {VIP2},
        timeout=15,
        what="d1 to take 10.0.5.96 back (preemption)",
    )


def test_keepalived_kill_leaves_vip_behind_and_backup_takes_over(lab: LabHandle) -> None:
    result = lab.fault("keepalived-kill", node="d2")
    assert "killed" in result
    # No priority-0 advert: d1 takes 10.0.5.97 after the master-down interval, while the
    # killed d2 still has it configured (two holders).
    lab.wait_until(
        lambda: VIP2 in vips_on(lab, "d1"),
        timeout=10,
        what="d1 to take 10.0.5.97 after d2 was killed",
    )
    assert VIP2 in vips_on(lab, "d2")
    lab.fault("keepalived-start", node="d2")
    lab.wait_until(
        lambda: vips_on(lab, "d1") == {VIP1} and vips_on(lab, "d2") == {VIP2},
        timeout=15,
        what="d2 to take 10.0.5.97 back",
    )


def test_rs_stop_removes_it_and_rs_start_adds_it_back(lab: LabHandle) -> None:
    lab.fault("rs-stop", node="rs1")
    lab.wait_until(
        lambda: all(ipvsadm(lab, d)[f"{VIP1}:8888"] == {"10.0.5.92:8888"} for d in ("d1", "d2")),
        timeout=10,
        what="TCP_CHECK to remove rs1",
    )
    assert fetch_tally(lab, VIP1, 2)["by_vip"][VIP1] == {"rs2": 2}
    lab.fault("rs-start", node="rs1")
    lab.wait_until(
        lambda: ipvsadm(lab, "d1")[f"{VIP1}:8888"] == set(RS),
        timeout=10,
        what="TCP_CHECK to add rs1 back",
    )


def _ipvs_conns(lab: LabHandle, node: str) -> int:
    out = lab.run(node, ["ipvsadm", "-Ln", "--stats"]).stdout
    return sum(int(m.group(1)) for m in re.finditer(r"^TCP\s+\S+\s+(\d+)", out, re.M))


def test_load_start_moves_counters_and_load_stop_stops(lab: LabHandle) -> None:
    before = _ipvs_conns(lab, "d1") + _ipvs_conns(lab, "d2")
    lab.fault("load-start", rate=20, duration=60)
    stats_file = f"{lab.node_dir('client')}/load.json"

    def ok_count() -> int:
        try:
            with open(stats_file) as f:
                ok: int = json.load(f)["ok"]
                return ok
        except (OSError, ValueError):
            return 0

    lab.wait_until(lambda: ok_count() >= 20, timeout=20, what="20 answered requests")
    with open(stats_file) as f:
        stats = json.load(f)
    for vip in (VIP1, VIP2):
        assert set(stats["by_vip"][vip]) == {"rs1", "rs2"}, stats
    # Kernel 6.1 folds the per-CPU counters into what netlink reports every 2 s.
    lab.wait_until(
        lambda: _ipvs_conns(lab, "d1") + _ipvs_conns(lab, "d2") >= before + 20,
        timeout=5,
        what="IPVS connection counters to count the load",
    )
    assert "stopped" in lab.fault("load-stop")
    settled = ok_count()
    time.sleep(1.5)
    assert ok_count() == settled


def test_vrrp_cut_makes_split_brain_and_restore_heals(lab: LabHandle) -> None:
    lab.fault("vrrp-cut", src="d1", dst="d2")
    lab.wait_until(
        lambda: VIP1 in vips_on(lab, "d2"),
        timeout=10,
        what="d2 to claim 10.0.5.96 too (split brain)",
    )
    assert VIP1 in vips_on(lab, "d1")
    lab.fault("vrrp-restore")
    lab.wait_until(lambda: vips_on(lab, "d2") == {VIP2}, timeout=10, what="d2 to release 10.0.5.96")
    assert vips_on(lab, "d1") == {VIP1}


def _connect_ms(
    lab: LabHandle, src: str, dst: str, port: int = 8888, timeout: float = 2.0
) -> float:
    """Milliseconds for a TCP handshake from ``src`` to ``dst`` (best of 5: a busy host may
    deschedule the VM during one); inf if none."""
    best = float("inf")
    with lab.netns(src):
        for _ in range(5):
            t0 = time.monotonic()
            try:
                with socket.create_connection((dst, port), timeout=timeout):
                    best = min(best, (time.monotonic() - t0) * 1000)
            except OSError:
                pass
    return best


def test_netem_delays_a_link_and_clear_removes_it(lab: LabHandle) -> None:
    base = _connect_ms(lab, "client", "10.0.5.91")
    assert base < 150
    lab.fault("netem", node="rs1", delay=200)
    assert "netem" in lab.run("rs1", ["tc", "qdisc", "show", "dev", "eth0"]).stdout
    assert _connect_ms(lab, "client", "10.0.5.91") >= 200
    lab.fault("netem-clear", node="rs1")
    assert "netem" not in lab.run("rs1", ["tc", "qdisc", "show", "dev", "eth0"]).stdout
    assert _connect_ms(lab, "client", "10.0.5.91") < 150


def test_netem_loss_drops_packets(lab: LabHandle) -> None:
    lab.fault("netem", node="rs2", loss=100)
    assert _connect_ms(lab, "client", "10.0.5.92", timeout=1.0) == float("inf")


def _vrrp_sources(lab: LabHandle, node: str, seconds: float) -> dict[tuple[str, int], set[str]]:
    """(source, vrid) -> VIPs of every VRRP advert seen on ``node``'s eth0 for a while."""
    seen: dict[tuple[str, int], set[str]] = {}
    with lab.netns(node):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        sock.bind(("eth0", 0))
        sock.settimeout(0.3)
        deadline = time.monotonic() + lab.scaled(seconds)  # for an idle host; longer when busy
        try:
            while time.monotonic() < deadline:
                try:
                    pkt = sock.recv(2048)
                except TimeoutError:
                    continue
                ihl = (pkt[0] & 0x0F) * 4
                if pkt[9] != 112:
                    continue
                src = socket.inet_ntoa(pkt[12:16])
                vrid, count = pkt[ihl + 1], pkt[ihl + 3]
                vips = {
                    socket.inet_ntoa(pkt[ihl + 8 + 4 * i : ihl + 12 + 4 * i]) for i in range(count)
                }
                seen.setdefault((src, vrid), set()).update(vips)
        finally:
            sock.close()
    return seen


def test_rogue_router_claims_vrid_51_with_another_vip(lab: LabHandle) -> None:
    # Through the CLI from inside d1's netns, as from `lvstop lab shell` or the dashboard.
    result = lab.run(
        "d1", [sys.executable, "-m", "lvstop", "lab", "fault", "rogue-start"], timeout=60
    ).stdout
    assert "10.0.5.99" in result
    seen = lab.wait_until(
        lambda: s if (s := _vrrp_sources(lab, "client", 2.5)).get(("10.0.5.99", 51)) else None,
        timeout=15,
        what="adverts for VRID 51 from 10.0.5.99",
    )
    assert seen[("10.0.5.99", 51)] == {"10.0.5.98"}
    lab.fault("rogue-stop")
    assert not lab.run("client", ["ip", "netns", "list"]).stdout.count("rogue")
    later = _vrrp_sources(lab, "client", 2.5)
    assert ("10.0.5.99", 51) not in later
    assert later.get(("10.0.5.90", 51)) == {VIP1} or lab.wait_until(
        lambda: _vrrp_sources(lab, "client", 2.5).get(("10.0.5.90", 51)) == {VIP1},
        timeout=10,
        what="d1 to advertise VRID 51 again",
    )


def test_vrrp_adverts_carry_the_configured_priorities(lab: LabHandle) -> None:
    seen = _vrrp_sources(lab, "rs1", 2.5)
    assert seen.get(("10.0.5.90", 51)) == {VIP1}
    assert seen.get(("10.0.5.93", 52)) == {VIP2}


@pytest.mark.parametrize(
    ("signame", "filename"),
    [("DATA", "keepalived.data"), ("JSON", "keepalived.json"), ("STATS", "keepalived.stats")],
)
def test_keepalived_dumps_land_in_the_node_folder(
    lab: LabHandle, signame: str, filename: str
) -> None:
    import os

    node_dir = lab.node_dir("d2")
    path = f"{node_dir}/{filename}"
    if os.path.exists(path):
        os.unlink(path)
    signum = int(lab.run("d2", ["keepalived", f"--signum={signame}"]).stdout.strip())
    with open(f"{node_dir}/keepalived.pid") as f:
        os.kill(int(f.read()), signum)

    def dumped() -> str:
        with open(path) as f:
            return f.read()

    # keepalived writes it in pieces: wait for the part naming the second instance.
    lab.wait_until(lambda: "VI_2" in dumped(), timeout=5, what=f"VI_2 in {path}")
    time.sleep(0.2)
    text = dumped()
    assert "VI_1" in text
    if signame == "JSON":
        data = json.loads(text)
        states = {i["data"]["iname"]: i["data"]["state"] for i in data}
        assert states == {"VI_1": 1, "VI_2": 2}  # d2: BACKUP of VI_1, MASTER of VI_2
    assert not os.path.exists(f"/tmp/{filename}")


@pytest.mark.long
def test_reset_repairs_what_a_test_changed_by_hand(lab: LabHandle) -> None:
    lab.run("rs1", ["ip", "addr", "del", f"{VIP1}/32", "dev", "lo"])
    with open(f"{lab.node_dir('d2')}/keepalived.pid") as f:
        lab.run("d2", ["kill", f.read().strip()])
    lab.wait_until(lambda: lab.problems(), timeout=5, what="the lab to notice")
    done = lab.reset()
    assert any("rs1" in line for line in done) and any("d2" in line for line in done), done
    assert lab.problems() == []


def test_unknown_fault_and_bad_params_are_one_line_errors(lab: LabHandle) -> None:
    from lvstop.errors import LvstopError

    with pytest.raises(LvstopError, match="no lab fault 'nope'"):
        lab.fault("nope")
    with pytest.raises(LvstopError, match="is not one of"):
        lab.fault("keepalived-stop", node="rs1")
    with pytest.raises(LvstopError, match="has no parameter"):
        lab.fault("netem", node="d1", bogus=1)
