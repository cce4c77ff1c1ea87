"""Host tests of the lab's declarative parts: topology, keepalived configs, VM plumbing."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from lvstop.errors import LvstopError
from lvstop.lab import faults, vm
from lvstop.lab.topology import (
    DIRECTOR,
    ROGUE_NODE,
    default_topology,
    keepalived_config,
    rogue_config,
)

TOPO = default_topology()


def blocks(text: str, keyword: str) -> dict[str, str]:
    """Top-level `keyword NAME {...}` blocks of a keepalived config, by NAME."""
    out: dict[str, str] = {}
    for m in re.finditer(rf"^{keyword} (.+?) \{{\n(.*?)^\}}", text, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def value(block: str, key: str) -> str:
    m = re.search(rf"^\s*{key} (\S+)", block, re.M)
    assert m, f"{key} missing"
    return m.group(1)


def test_default_topology_addresses():
    addr = {n.name: n.address for n in TOPO.nodes}
    assert addr == {"d1": "10.0.5.90", "d2": "10.0.5.93", "rs1": "10.0.5.91",
                    "rs2": "10.0.5.92", "client": "10.0.5.100"}
    assert [d.name for d in TOPO.directors] == ["d1", "d2"]
    assert TOPO.vips == ("10.0.5.96", "10.0.5.97")
    assert all(TOPO.contains(a) for a in addr.values())
    assert not TOPO.contains("8.8.8.8") and not TOPO.contains("nonsense")
    with pytest.raises(KeyError, match="no lab node 'd3'"):
        TOPO.node("d3")


@pytest.mark.parametrize(
    ("director", "expected"),
    [
        ("d1", {"VI_1": ("MASTER", "51", "100", "10.0.5.96/24"),
                "VI_2": ("BACKUP", "52", "11", "10.0.5.97/24")}),
        ("d2", {"VI_1": ("BACKUP", "51", "10", "10.0.5.96/24"),
                "VI_2": ("MASTER", "52", "101", "10.0.5.97/24")}),
    ],
)
def test_dual_master_vrrp_instances(director, expected):
    text = keepalived_config(TOPO, director)
    instances = blocks(text, "vrrp_instance")
    got = {
        name: (value(b, "state"), value(b, "virtual_router_id"), value(b, "priority"),
               re.search(r"virtual_ipaddress \{\s*(\S+)", b).group(1))
        for name, b in instances.items()
    }
    assert got == expected
    for b in instances.values():
        assert value(b, "advert_int") == "1"
        assert value(b, "interface") == "eth0"
        assert value(b, "auth_type") == "PASS"
    assert "vrrp_strict" not in text


@pytest.mark.parametrize("director", ["d1", "d2"])
def test_virtual_services_dr_rr_tcp_check(director):
    services = blocks(keepalived_config(TOPO, director), "virtual_server")
    assert set(services) == {"10.0.5.96 8888", "10.0.5.97 8888"}
    for body in services.values():
        assert value(body, "lb_algo") == "rr"
        assert value(body, "lb_kind") == "DR"
        assert re.findall(r"real_server (\S+ \d+) \{", body) == ["10.0.5.91 8888",
                                                                 "10.0.5.92 8888"]
        assert body.count("TCP_CHECK {") == 2
        assert body.count("connect_port 8888") == 2


def test_rogue_claims_vrid_51_with_another_vip():
    text = rogue_config(TOPO)
    (block,) = blocks(text, "vrrp_instance").values()
    assert value(block, "virtual_router_id") == "51"
    assert "10.0.5.98/24" in block and "10.0.5.96" not in block
    assert ROGUE_NODE.address == "10.0.5.99"
    assert "virtual_server" not in text


def test_config_only_for_directors():
    with pytest.raises(ValueError, match="not a director"):
        keepalived_config(TOPO, "rs1")
    assert {n.role for n in TOPO.directors} == {DIRECTOR}


@pytest.mark.skipif(shutil.which("keepalived", path="/usr/sbin:/usr/bin:/sbin:/bin") is None,
                    reason="keepalived not installed")
@pytest.mark.parametrize("which", ["d1", "d2", "rogue"])
def test_keepalived_accepts_generated_configs(tmp_path, which):
    text = rogue_config(TOPO) if which == "rogue" else keepalived_config(TOPO, which)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    proc = subprocess.run(["keepalived", "-t", "-f", str(conf)], capture_output=True, text=True,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    assert proc.returncode == 0, proc.stderr


# --- VM plumbing ------------------------------------------------------------------------------

def test_init_script_mounts_loads_modules_and_powers_off(tmp_path):
    text = vm.init_script(tmp_path, {"LVSTOP_IN_LAB": "1", "TERM": "xterm"})
    assert text.startswith("#!/bin/sh\n")
    for line in ("mount -t proc proc /proc", "mount -t tmpfs tmp /tmp",
                 "mount -t tmpfs run /run", "mkdir -p /run/netns /dev/pts"):
        assert line in text
    for module in ("ip_vs", "ip_vs_rr", "ip_vs_wlc", "ip_vs_mh", "veth", "bridge", "sch_netem",
                   "nf_tables", "ip_tables"):
        assert re.search(rf"for m in .*\b{module}\b", text)
    assert "-m lvstop.lab.inside" in text
    assert text.rstrip().endswith("poweroff -f")
    assert "export LVSTOP_IN_LAB=1" in text


def test_uml_argv_never_attaches_the_host_network(tmp_path):
    argv = vm.uml_argv("/usr/bin/linux.uml", tmp_path, 60, interactive=False)
    assert argv[0] == "timeout" and "60s" in argv
    assert not any(re.match(r"eth\d+=", a) for a in argv)
    assert "con0=fd:0,fd:1" in argv and "rootfstype=hostfs" in argv
    assert f"init={tmp_path / 'init.sh'}" in argv
    assert "--foreground" in vm.uml_argv("/x", tmp_path, 60, interactive=True)


def test_payload_round_trip():
    p = vm.Payload("command", ("ipvsadm", "-Ln"), "d2", (("A", "b"),), wait_healthy=False)
    assert vm.Payload.from_json(p.to_json()) == p


def test_missing_programs_name_the_debian_package(monkeypatch):
    monkeypatch.setattr(vm, "REQUIRED_PROGRAMS",
                        (("linux.uml-not-here", "user-mode-linux"), ("ipvsadm", "ipvsadm")))
    with pytest.raises(LvstopError) as err:
        vm.check_host()
    msg = str(err.value)
    assert "apt-get install -y user-mode-linux" in msg and "\n" not in msg


def test_lab_dir_refuses_tmp(monkeypatch):
    monkeypatch.setenv("LVSTOP_LAB_DIR", "/tmp/somewhere")
    with pytest.raises(LvstopError, match="hidden inside the VM"):
        vm.lab_dir()


def test_vm_result_failure_lines(tmp_path):
    (tmp_path / "progress").write_text("modules\nnetwork\n")
    assert "timed out (last step: network)" in vm.result(tmp_path, 124).failure()
    assert "died without an exit status" in vm.result(tmp_path, 0).failure()
    (tmp_path / "status").write_text("7\n")
    ok = vm.result(tmp_path, 0)
    assert ok.status == 7 and ok.failure() is None
    (tmp_path / "failed").write_text("lab step 'x' failed: because\n")
    assert vm.result(tmp_path, 0).failure() == "lab step 'x' failed: because"


# --- faults registry (parameter handling needs no VM) ----------------------------------------

def test_every_fault_has_a_description_and_an_undo_pair():
    names = set(faults.FAULTS)
    assert {"keepalived-stop", "keepalived-start", "keepalived-kill", "rs-stop", "rs-start",
            "load-start", "load-stop", "vrrp-cut", "vrrp-restore", "netem", "netem-clear",
            "rogue-start", "rogue-stop"} <= names
    for fault in faults.FAULTS.values():
        assert fault.description and "\n" not in fault.description
    assert len(faults.describe()) == len(names)


def test_fault_params_are_converted_and_checked():
    netem = faults.FAULTS["netem"]
    assert faults.parse_params(netem, {"loss": "5", "node": "rs1"}) == {
        "node": "rs1", "loss": 5.0, "delay": 0.0, "jitter": 0.0}
    with pytest.raises(LvstopError, match="no parameter 'bogus'"):
        faults.parse_params(netem, {"bogus": 1})
    with pytest.raises(LvstopError, match="is not a number"):
        faults.parse_params(netem, {"delay": "soon"})


def test_faults_refuse_to_run_outside_the_lab(monkeypatch):
    monkeypatch.delenv("LVSTOP_IN_LAB", raising=False)
    with pytest.raises(LvstopError, match="only works inside the lab VM"):
        faults.apply("keepalived-stop", node="d1")
    with pytest.raises(LvstopError, match="no lab fault 'explode'"):
        faults.apply("explode")
