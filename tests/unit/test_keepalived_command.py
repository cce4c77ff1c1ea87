"""`lvstop keepalived` on sample configs (no keepalived running, no kernel table)."""

from __future__ import annotations

import json
from pathlib import Path

import keepalived_samples as ks
import pytest

from lvstop.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["keepalived", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--config",
        str(ks.sample("keepalived.conf.sample")),
        "--json",
        "--no-kernel",
        "--no-keepalived-state",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "lvstop.keepalived/1"
    assert doc["files"] == [str(ks.sample("keepalived.conf.sample"))]
    assert doc["router_id"] == "LVS_DEVEL"
    (inst,) = doc["vrrp_instances"]
    for k, v in {
        "name": "VI_1",
        "state": "BACKUP",  # not written: keepalived's initial state for priority < 255
        "interface": "eth0",
        "virtual_router_id": 50,
        "priority": 100,
        "advert_int": 1.0,
        "version": 2,
        "auth_type": None,
        "virtual_ipaddress": ["192.168.200.11/32", "192.168.200.12/32", "192.168.200.13/32"],
        "unicast_peer": [],
        "nopreempt": True,
    }.items():
        assert inst[k] == v, k
    (vs,) = doc["virtual_servers"]
    assert (vs["address"], vs["port"], vs["fwmark"], vs["group"]) == (
        "10.10.10.2",
        1358,
        None,
        None,
    )
    assert (vs["protocol"], vs["lb_algo"], vs["lb_kind"], vs["persistence_timeout"]) == (
        "TCP",
        "rr",
        "NAT",
        50,
    )
    assert vs["sorry_server"] == {"address": "192.168.200.200", "port": 1358, "inhibit": False}
    (rs,) = vs["real_servers"]
    assert (rs["address"], rs["port"], rs["weight"]) == ("192.168.200.2", 1358, 1)
    assert rs["checks"][0]["type"] == "HTTP_GET" and rs["checks"][0]["retry"] == 3
    assert doc["warnings"] == []
    assert doc["rules"] == "2.2.7" and doc["differences"] == [] and doc["errors"] == []


def test_differences_errors_and_version(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lvstop.model.keepalived import KeepalivedVersion
    from lvstop.sources import keepalived_version

    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "vrrp_instance VI_1 {\n interface eth0\n state master\n"
        " virtual_ipaddress {\n 10.0.0.9\n }\n}\n"
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n lb_algo rr\n lb_kind dr\n"
        " real_server 10.0.0.11 80 {\n  TCP_CHECK {\n   nb_get_retry 3\n  }\n }\n}\n"
    )
    # a keepalived outside the 2.x range lvstop models must be named, not silently assumed
    monkeypatch.setattr(
        keepalived_version,
        "read_version",
        lambda: KeepalivedVersion(
            "/usr/sbin/keepalived", "1.3.5", keepalived_version.judge("1.3.5")
        ),
    )
    code, out, err = run(capsys, "--config", str(conf), "--no-kernel", "--no-keepalived-state")
    assert code == 1
    assert "error: keepalived would not run this config" in err and "virtual router id" in err
    assert "Errors: keepalived would not run this config (1)" in out
    assert f"{conf}:11: virtual_server 10.0.0.1:80 lb_kind: dr -> NAT" in out
    assert "vrrp_instance VI_1 state: master -> BACKUP" in out
    assert "TCP_CHECK retry: 3 -> 1" in out
    assert "keepalived 1.3.5 is outside the 2.x range" in out
    code, out, _ = run(
        capsys, "--config", str(conf), "--no-kernel", "--no-keepalived-state", "--json"
    )
    doc = json.loads(out)
    assert code == 1
    assert doc["keepalived_version"]["version"] == "1.3.5"
    assert doc["keepalived_version"]["rules"] == "2.2.7"
    assert {(d["field"], d["written"], d["effective"]) for d in doc["differences"]} >= {
        ("lb_kind", "dr", "NAT"),
        ("state", "master", "BACKUP"),
        ("retry", "3", "1"),
    }
    assert doc["virtual_servers"][0]["lb_kind"] == "NAT"
    assert [e["level"] for e in doc["errors"]] == ["error"]


def test_text_and_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--config",
        str(ks.sample("keepalived.conf.vrrp.lvs_syncd")),
        "--no-kernel",
        "--no-keepalived-state",
    )
    assert code == 0
    assert "VI_1         vrid 51" in out
    assert "unknown keyword 'VI_2'" in out


def test_bad_config_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "k.conf"
    bad.write_text("include k.conf\n")
    code, out, err = run(capsys, "--config", str(bad), "--no-kernel")
    assert code == 2 and out == ""
    assert err.strip() == f"lvstop: {bad}:1: include loop: {bad} -> {bad}"
    # an unclosed block is one keepalived runs (with a warning): so does lvstop
    bad.write_text("global_defs {\n")
    code, out, err = run(capsys, "--config", str(bad), "--no-kernel", "--no-keepalived-state")
    assert code == 0 and "'{' of 'global_defs' is never closed" in out


def test_this_hosts_config_is_judged_on_this_hosts_interfaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lvstop.model.keepalived import HostInterface
    from lvstop.sources import keepalived_conf, keepalived_state

    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        "vrrp_instance VI_1 {\n interface eth9\n virtual_router_id 9\n"
        " virtual_ipaddress {\n 10.0.0.9\n }\n}\n"
    )
    monkeypatch.setattr(keepalived_conf, "DEFAULT_CONFIG", str(conf))
    monkeypatch.setattr(keepalived_state, "scan_processes", list)  # keepalived not running
    monkeypatch.setattr(
        keepalived_conf,
        "host_interfaces",
        lambda: {"eth9": HostInterface("eth9", True, frozenset({"inet6"}))},
    )
    code, out, _ = run(capsys, "--no-kernel", "--no-keepalived-state")
    assert code == 0
    assert "keepalived starts it in FAULT here: no IPv4 address on eth9" in out
    code, out, _ = run(capsys, "--no-kernel", "--no-keepalived-state", "--json")
    assert json.loads(out)["vrrp_instances"][0]["fault"] == "no IPv4 address on eth9"
    # a config named with --config may be another host's: not judged on this one
    code, out, _ = run(capsys, "--config", str(conf), "--no-kernel", "--no-keepalived-state")
    assert "FAULT" not in out


def test_host_interfaces_reads_this_netns() -> None:
    from lvstop.sources.keepalived_conf import host_interfaces

    lo = host_interfaces()["lo"]
    assert lo.up and "inet" in lo.families
