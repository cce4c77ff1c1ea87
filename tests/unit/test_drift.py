"""Drift verdicts replayed from lab recordings (tests/lab/test_keepalived_lab.py saved the
config, keepalived's dumps and the IPVS table of each scenario), plus variations of them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from lvstop.model.ipvs import IpvsSnapshot
from lvstop.model.keepalived import KeepalivedConfig, KeepalivedRuntime
from lvstop.sources.keepalived_conf import parse_file
from lvstop.sources.keepalived_state import parse_check_data, parse_vrrp_data, parse_vrrp_json
from lvstop.track.drift import Drift, RealServerDrift, VirtualServerDrift, compute_drift

LAB = Path(__file__).resolve().parent.parent / "data" / "keepalived" / "lab"
VIP1, VIP2, RS1, RS2 = "10.0.5.96", "10.0.5.97", "10.0.5.91", "10.0.5.92"


def load(
    name: str,
    *,
    with_runtime: bool = True,
) -> tuple[KeepalivedConfig, IpvsSnapshot, KeepalivedRuntime | None]:
    d = LAB / name
    node = (d / "node").read_text().strip()
    config = parse_file(str(d / "keepalived.conf"), config_id=node)
    ipvs = IpvsSnapshot.from_dict(json.loads((d / "ipvs.json").read_text()))
    runtime = None
    if with_runtime and (d / "keepalived_check.data").exists():
        runtime = KeepalivedRuntime(
            instances=parse_vrrp_data((d / "keepalived.data").read_text()),
            virtual_servers=parse_check_data((d / "keepalived_check.data").read_text()),
        )
    return config, ipvs, runtime


def key(vip: str, rs: str) -> str:
    return f"tcp:{vip}:8888->{rs}:8888"


def real_server(drift: Drift, key: str) -> RealServerDrift:
    found = drift.real_server(key)
    assert found is not None, key
    return found


def service(drift: Drift, key: str) -> VirtualServerDrift:
    found = drift.service(key)
    assert found is not None, key
    return found


def test_healthy() -> None:
    drift = compute_drift(*load("healthy"))
    assert drift.problems() == []
    assert {rs.verdict for vs in drift.virtual_servers for rs in vs.real_servers} == {"ok"}
    assert drift.instance_name(51) == "VI_1" and drift.instance_name(52) == "VI_2"
    assert drift.vip_name(VIP1) == "VI_1" and drift.vip_name("10.0.5.1") is None
    states = {i.name: i.keepalived_state for i in drift.instances}
    assert states == {"VI_1": "MASTER", "VI_2": "BACKUP"}
    assert drift.foreign_services == ()


def test_rs1_stopped_is_removed_with_its_checker() -> None:
    drift = compute_drift(*load("rs1-stopped"))
    rs1 = real_server(drift, key(VIP1, RS1))
    assert rs1 is not None and rs1.verdict == "removed"
    assert rs1.failing_checks == ("TCP_CHECK :8888",)
    assert real_server(drift, key(VIP1, RS2)).verdict == "ok"
    assert len(drift.problems()) == 2


def test_rs1_stopped_without_keepalived_state_is_only_absent() -> None:
    drift = compute_drift(*load("rs1-stopped", with_runtime=False))
    rs1 = real_server(drift, key(VIP1, RS1))
    assert rs1.verdict == "absent" and "no keepalived state" in rs1.detail


def test_inhibited() -> None:
    drift = compute_drift(*load("rs1-inhibited"))
    rs1 = real_server(drift, key(VIP1, RS1))
    assert rs1.verdict == "inhibited" and rs1.kernel_weight == 0
    assert rs1.failing_checks == ("TCP_CHECK :8888",)


def test_manual_weight_change() -> None:
    drift = compute_drift(*load("rs2-weight-5"))
    rs2 = real_server(drift, key(VIP1, RS2))
    assert rs2.verdict == "changed"
    assert (rs2.kernel_weight, rs2.configured_weight, rs2.keepalived_weight) == (5, 1, 1)
    assert "reload" in rs2.detail


def test_failover_state_against_the_wire() -> None:
    config, ipvs, runtime = load("failover-d2")
    wire = {("inet", 51): "10.0.5.93", ("inet", 52): "10.0.5.93"}
    drift = compute_drift(config, ipvs, runtime, wire, {"10.0.5.93"})
    assert all(i.agree for i in drift.instances)
    # the wire says d1 still holds VRID 51 while keepalived on d2 says MASTER: disagreement
    wire = {("inet", 51): "10.0.5.90", ("inet", 52): "10.0.5.93"}
    drift = compute_drift(config, ipvs, runtime, wire, {"10.0.5.93"})
    vi1 = next(i for i in drift.instances if i.name == "VI_1")
    assert vi1.agree is False and vi1.wire_state == "BACKUP"
    assert any("VI_1" in p for p in drift.problems())


def _without_rs(ipvs: IpvsSnapshot, vip: str, rs: str) -> IpvsSnapshot:
    services = []
    for svc in ipvs.services:
        if svc.address == vip:
            svc = dataclasses.replace(
                svc, real_servers=tuple(r for r in svc.real_servers if r.address != rs)
            )
        services.append(svc)
    return IpvsSnapshot(services=tuple(services), timeouts=ipvs.timeouts)


def test_removed_by_hand_while_keepalived_says_up() -> None:
    config, ipvs, runtime = load("healthy")
    drift = compute_drift(config, _without_rs(ipvs, VIP1, RS2), runtime)
    rs2 = real_server(drift, key(VIP1, RS2))
    assert rs2.verdict == "absent" and "removed by hand" in rs2.detail


def test_missing_service_unknown_rs_sorry_and_quorum(tmp_path: Path) -> None:
    config, ipvs, runtime = load("healthy")
    only_vip2 = IpvsSnapshot(services=tuple(s for s in ipvs.services if s.address == VIP2))
    drift = compute_drift(config, only_vip2, runtime)
    assert service(drift, f"tcp:{VIP1}:8888").verdict == "missing"
    # sorry server active: every real server gone, the sorry server in the table
    text = (
        (LAB / "healthy" / "keepalived.conf")
        .read_text()
        .replace("    protocol TCP\n", "    protocol TCP\n    sorry_server 10.0.5.200 8888\n", 1)
    )
    (tmp_path / "k.conf").write_text(text)
    sorry_cfg = parse_file(str(tmp_path / "k.conf"), config_id="d1")
    svc = ipvs.service(f"tcp:{VIP1}:8888")
    assert svc is not None
    sorry_rs = dataclasses.replace(svc.real_servers[0], address="10.0.5.200")
    table = IpvsSnapshot(
        services=(
            dataclasses.replace(svc, real_servers=(sorry_rs,)),
            *tuple(s for s in ipvs.services if s is not svc),
        )
    )
    drift = compute_drift(sorry_cfg, table, None)
    vs = service(drift, f"tcp:{VIP1}:8888")
    assert vs.verdict == "sorry" and vs.sorry_active
    assert all(rs.verdict != "unknown" for rs in vs.real_servers)
    # a real server nobody configured
    stranger = dataclasses.replace(svc.real_servers[0], address="10.0.5.100")
    table = IpvsSnapshot(
        services=(dataclasses.replace(svc, real_servers=(*svc.real_servers, stranger)),)
    )
    drift = compute_drift(config, table, runtime)
    assert real_server(drift, key(VIP1, "10.0.5.100")).verdict == "unknown"
    # quorum: keepalived's own verdict when it has one
    assert runtime is not None and runtime.virtual_servers is not None
    lost = KeepalivedRuntime(
        instances=runtime.instances,
        virtual_servers=tuple(
            dataclasses.replace(v, quorum_up=False) for v in runtime.virtual_servers
        ),
    )
    drift = compute_drift(config, ipvs, lost)
    assert service(drift, f"tcp:{VIP1}:8888").verdict == "quorum-lost"


def test_json_dump_names_the_same_instances() -> None:
    d = LAB / "healthy"
    if not (d / "keepalived.json").exists():
        pytest.skip("no JSON dump recorded")
    js = parse_vrrp_json((d / "keepalived.json").read_text())
    assert {i.name: i.virtual_router_id for i in js} == {"VI_1": 51, "VI_2": 52}


def test_drain_warning() -> None:
    drift = compute_drift(*load("healthy"))
    text = drift.drain_warning(key(VIP1, RS1))
    assert text is not None and "sets its weight back to 1" in text
    assert "keepalived.conf:" in text  # points at the real_server line
    assert drift.drain_warning("tcp:10.9.9.9:80->10.0.0.1:80") is None


def test_real_server_ports_keepalived_rewrote_are_not_drift(tmp_path: Path) -> None:
    # DR real servers written with another port (or none): keepalived 2.2.7 installs them on
    # the virtual server's port (check_data.c validate_check_config), which is what the
    # recorded kernel table holds; the effective config must agree with it, not cry "by hand"
    config, ipvs, runtime = load("healthy")
    text = (LAB / "healthy" / "keepalived.conf").read_text()
    text = text.replace(f"real_server {RS1} 8888 {{", f"real_server {RS1} 80 {{")
    text = text.replace(f"real_server {RS2} 8888 {{", f"real_server {RS2} {{")
    (tmp_path / "k.conf").write_text(text)
    rewritten = parse_file(str(tmp_path / "k.conf"), config_id="d1")
    assert [(d.written, d.effective) for d in rewritten.differences if d.field == "port"] == [
        ("80", "8888"),
        ("80", "8888"),
    ]
    drift = compute_drift(rewritten, ipvs, runtime)
    assert drift.problems() == compute_drift(config, ipvs, runtime).problems() == []
    assert {rs.verdict for vs in drift.virtual_servers for rs in vs.real_servers} == {"ok"}
