"""doctor checks as pure functions of Facts (values as the lab's nodes show them)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import keepalived_samples as ks

from lvstop.doctor import CheckResult, document, run_all
from lvstop.doctor.facts import Address, Facts, HeardAdvert
from lvstop.model.ipvs import IpvsSnapshot, Timeouts
from lvstop.model.keepalived import KeepalivedConfig, KeepalivedProcess
from lvstop.sources.keepalived_conf import parse_file

LAB_D1 = """
global_defs {
    router_id d1
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        10.0.5.96/20
    }
}
virtual_server 10.0.5.96 8888 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.5.91 8888 {
        weight 1
        TCP_CHECK {
            connect_port 8888
        }
    }
}
"""

RS_SYSCTLS = {
    "net/ipv4/conf/all/arp_ignore": "1",
    "net/ipv4/conf/lo/arp_ignore": "1",
    "net/ipv4/conf/all/arp_announce": "2",
    "net/ipv4/conf/lo/arp_announce": "2",
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/lo/rp_filter": "0",
}
RS_ADDRS = (
    Address("lo", "127.0.0.1", 8, "loopback"),
    Address("lo", "10.0.5.96", 32, "loopback"),
    Address("eth0", "10.0.5.91", 20, "veth"),
)


def cfg(tmp_path: Path, text: str, name: str = "k.conf") -> KeepalivedConfig:
    path = tmp_path / name
    path.write_text(text)
    return parse_file(str(path), config_id="d1")


def by_id(results: Iterable[CheckResult]) -> dict[str, CheckResult]:
    return {r.id: r for r in results}


def director(tmp_path: Path, text: str = LAB_D1, **kw: Any) -> Facts:
    defaults: dict[str, Any] = dict(
        role="director",
        config=cfg(tmp_path, text),
        sysctls={
            "net/ipv4/ip_forward": "0",
            "net/ipv4/vs/expire_nodest_conn": "0",
            "net/ipv4/vs/expire_quiescent_template": "0",
        },
        addresses=(Address("eth0", "10.0.5.90", 20, "veth"),),
        ipvs_present=True,
        ipvs=IpvsSnapshot(timeouts=Timeouts(900, 120, 300)),
        processes=(KeepalivedProcess(1, 0, "parent", 0.0),),
        keepalived_test=(0, ""),
        adverts=(HeardAdvert("eth0", "10.0.5.93", "inet", 51, 10, ("10.0.5.96",)),),
    )
    defaults.update(kw)
    return Facts(**defaults)


def test_healthy_director(tmp_path: Path) -> None:
    results = by_id(run_all(director(tmp_path)))
    assert not [r for r in results.values() if r.status == "fail"]
    assert results["ip.forward"].status == "skip"
    assert results["ipvs.timeouts"].status == "warn" and "900" in results["ipvs.timeouts"].summary
    assert results["ipvs.expire_nodest_conn"].status == "warn"
    assert results["vrrp.foreign_vrid"].status == "ok"
    doc = document(list(results.values()), "director")
    assert doc["schema"] == "lvstop.doctor/1"
    assert set(doc["checks"][0]) == {"id", "status", "summary", "fix"}


def test_nat_needs_forwarding(tmp_path: Path) -> None:
    results = by_id(run_all(director(tmp_path, LAB_D1.replace("lb_kind DR", "lb_kind NAT"))))
    assert results["ip.forward"].status == "fail"
    assert "ip_forward=1" in results["ip.forward"].fix


def test_strict_nopreempt_sorry_local(tmp_path: Path) -> None:
    text = (
        LAB_D1.replace("router_id d1", "router_id d1\n    vrrp_strict")
        .replace("advert_int 1", "advert_int 1\n    nopreempt")
        .replace("protocol TCP", "protocol TCP\n    sorry_server 10.0.5.200 8888")
        .replace("real_server 10.0.5.91", "real_server 127.0.0.1")
    )
    results = by_id(run_all(director(tmp_path, text)))
    assert results["vrrp.strict"].status == "warn"
    # under vrrp_strict keepalived first demotes state MASTER (priority 100, not the address
    # owner) to BACKUP, so nopreempt stays in force
    assert results["vrrp.nopreempt"].status == "ok"
    assert results["lvs.sorry_local"].status == "warn"
    plain = text.replace("    vrrp_strict\n", "")
    assert by_id(run_all(director(tmp_path, plain)))["vrrp.nopreempt"].status == "fail"
    assert "keepalived ignores its authentication (VI_1)" in results["vrrp.strict"].summary
    # keepalived 2.2.7 runs vrrp_strict with unicast peers (corpus 92-strict-unicast): a warning
    unicast = text.replace("advert_int 1", "advert_int 1\n    unicast_peer {\n 10.0.5.93\n }")
    assert by_id(run_all(director(tmp_path, unicast)))["vrrp.strict"].status == "warn"


def test_foreign_vrid_and_config_and_running(tmp_path: Path) -> None:
    rogue = HeardAdvert("eth0", "10.0.5.99", "inet", 51, 50, ("10.0.5.98",))
    facts = director(tmp_path, adverts=(rogue,), processes=(), keepalived_test=(1, "bad"))
    results = by_id(run_all(facts))
    assert results["vrrp.foreign_vrid"].status == "fail"
    assert "10.0.5.99" in results["vrrp.foreign_vrid"].summary
    assert results["keepalived.running"].status == "fail"
    assert results["keepalived.config"].status == "fail"


def test_peer_configs(tmp_path: Path) -> None:
    mine = cfg(tmp_path, LAB_D1, "d1.conf")
    good = (
        LAB_D1.replace("router_id d1", "router_id d2")
        .replace("state MASTER", "state BACKUP")
        .replace("priority 100", "priority 10")
    )
    facts = director(tmp_path, peer_config=cfg(tmp_path, good, "d2.conf"))
    results = by_id(run_all(facts))
    for check_id in (
        "peer.router_id",
        "peer.instances",
        "peer.state_priority",
        "peer.vrrp_equal",
        "peer.virtual_servers",
    ):
        assert results[check_id].status == "ok", results[check_id]
    assert mine.router_id == "d1"
    bad = good.replace("auth_pass 1111", "auth_pass 2222").replace("weight 1", "weight 2")
    results = by_id(run_all(director(tmp_path, peer_config=cfg(tmp_path, bad, "d2b.conf"))))
    assert results["peer.vrrp_equal"].status == "fail"
    assert "authentication differs" in results["peer.vrrp_equal"].summary
    assert results["peer.virtual_servers"].status == "fail"
    same_id = LAB_D1
    results = by_id(run_all(director(tmp_path, peer_config=cfg(tmp_path, same_id, "d2c.conf"))))
    assert results["peer.router_id"].status == "warn"
    assert results["peer.state_priority"].status == "fail"


def rs_facts(**kw: Any) -> Facts:
    defaults: dict[str, Any] = dict(
        role="real-server", sysctls=RS_SYSCTLS, addresses=RS_ADDRS, vips=("10.0.5.96",)
    )
    defaults.update(kw)
    return Facts(**defaults)


def test_real_server_checks() -> None:
    assert {r.status for r in run_all(rs_facts())} == {"ok"}
    broken = dict(RS_SYSCTLS, **{"net/ipv4/conf/all/arp_ignore": "0"})
    results = by_id(run_all(rs_facts(sysctls=broken)))
    assert results["rs.arp_ignore"].status == "fail"
    assert results["rs.arp_ignore"].fix.startswith("sysctl -w net.ipv4.conf.all.arp_ignore=1")
    wide = (RS_ADDRS[0], Address("lo", "10.0.5.96", 20, "loopback"), RS_ADDRS[2])
    results = by_id(run_all(rs_facts(addresses=wide)))
    assert results["rs.vip_on_lo"].status == "fail"
    on_eth = (RS_ADDRS[0], Address("eth0", "10.0.5.96", 32, "veth"), RS_ADDRS[2])
    results = by_id(run_all(rs_facts(addresses=on_eth)))
    assert "answers ARP" in results["rs.vip_on_lo"].summary
    results = by_id(run_all(rs_facts(addresses=(RS_ADDRS[0], RS_ADDRS[2]))))
    assert results["rs.vip_on_lo"].fix == "ip addr add 10.0.5.96/32 dev lo"
    tun = dict(RS_SYSCTLS, **{"net/ipv4/conf/tunl0/rp_filter": "1"})
    assert by_id(run_all(rs_facts(sysctls=tun)))["rs.rp_filter"].status == "fail"
    assert by_id(run_all(rs_facts(vips=())))["rs.vip"].status == "skip"


def test_corpus_sample_doctor_findings(tmp_path: Path) -> None:
    sample = parse_file(str(ks.sample("keepalived.conf.sample")), config_id="x")
    facts = director(tmp_path, config=sample)
    results = by_id(run_all(facts))
    assert results["ip.forward"].status == "fail"  # the sample balances with NAT


NOTES = Path(__file__).resolve().parent.parent / "data" / "keepalived" / "notes"


def test_notes_dual_master_pair_passes_the_peer_checks(tmp_path: Path) -> None:
    ds1 = parse_file(str(NOTES / "ds1-dual.conf"), config_id="x")
    ds2 = parse_file(str(NOTES / "ds2-dual.conf"), config_id="x")
    results = by_id(run_all(director(tmp_path, config=ds1, peer_config=ds2)))
    for check_id in (
        "peer.router_id",
        "peer.instances",
        "peer.state_priority",
        "peer.vrrp_equal",
        "peer.virtual_servers",
    ):
        assert results[check_id].status == "ok", results[check_id]
    # the same file copied to both directors: equal priorities, both MASTER, same router_id
    swapped = by_id(run_all(director(tmp_path, config=ds1, peer_config=ds1)))
    assert swapped["peer.state_priority"].status == "fail"
    assert swapped["peer.router_id"].status == "warn"


def test_config_keepalived_would_not_run_fails_and_differences_warn(tmp_path: Path) -> None:
    no_vrid = LAB_D1.replace("    virtual_router_id 51\n", "", 1)
    result = by_id(run_all(director(tmp_path, no_vrid)))["keepalived.config"]
    assert result.status == "fail"
    assert "keepalived would not run this config" in result.summary
    assert "virtual router id must be set" in result.summary
    lower = LAB_D1.replace("lb_kind DR", "lb_kind dr")
    result = by_id(run_all(director(tmp_path, lower)))["keepalived.config"]
    assert result.status == "warn" and "lb_kind: dr -> NAT" in result.summary
