"""`lvstop keepalived` on sample configs (no keepalived running, no kernel table)."""

from __future__ import annotations

import json
from pathlib import Path

from lvstop.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "keepalived" / "samples"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["keepalived", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(capsys):
    code, out, _ = run(
        capsys,
        "--config",
        str(SAMPLES / "keepalived.conf.sample"),
        "--json",
        "--no-kernel",
        "--no-keepalived-state",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "lvstop.keepalived/1"
    assert doc["files"] == [str(SAMPLES / "keepalived.conf.sample")]
    assert doc["router_id"] == "LVS_DEVEL"
    (inst,) = doc["vrrp_instances"]
    for k, v in {
        "name": "VI_1",
        "state": None,
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
    assert vs["sorry_server"] == {"address": "192.168.200.200", "port": 1358}
    (rs,) = vs["real_servers"]
    assert (rs["address"], rs["port"], rs["weight"]) == ("192.168.200.2", 1358, 1)
    assert rs["checks"][0]["type"] == "HTTP_GET" and rs["checks"][0]["retry"] == 3
    assert doc["warnings"] == []


def test_text_and_warnings(capsys):
    code, out, _ = run(
        capsys,
        "--config",
        str(SAMPLES / "keepalived.conf.vrrp.lvs_syncd"),
        "--no-kernel",
        "--no-keepalived-state",
    )
    assert code == 0
    assert "VI_1         vrid 51" in out
    assert "unknown keyword 'VI_2'" in out


def test_bad_config_is_one_line(capsys, tmp_path):
    bad = tmp_path / "k.conf"
    bad.write_text("global_defs {\n")
    code, out, err = run(capsys, "--config", str(bad), "--no-kernel")
    assert code == 2 and out == ""
    assert (
        err.strip() == f"lvstop: {bad}:1: '{{' of 'global_defs' is never closed (end of "
        f"configuration at {bad}:1)"
    )
