"""Host tests of the lab's declarative parts: topology, keepalived configs, VM plumbing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from lvstop.errors import LvstopError
from lvstop.lab import faults, runtime, vm
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


def test_default_topology_addresses() -> None:
    addr = {n.name: n.address for n in TOPO.nodes}
    assert addr == {
        "d1": "10.0.5.90",
        "d2": "10.0.5.93",
        "rs1": "10.0.5.91",
        "rs2": "10.0.5.92",
        "client": "10.0.5.100",
    }
    assert [d.name for d in TOPO.directors] == ["d1", "d2"]
    assert TOPO.vips == ("10.0.5.96", "10.0.5.97")
    assert all(TOPO.contains(a) for a in addr.values())
    assert not TOPO.contains("8.8.8.8") and not TOPO.contains("nonsense")
    with pytest.raises(KeyError, match="no lab node 'd3'"):
        TOPO.node("d3")


def first_vip(block: str) -> str:
    found = re.search(r"virtual_ipaddress \{\s*(\S+)", block)
    assert found is not None, block
    return found.group(1)


@pytest.mark.parametrize(
    ("director", "expected"),
    [
        (
            "d1",
            {
                "VI_1": ("MASTER", "51", "100", "10.0.5.96/24"),
                "VI_2": ("BACKUP", "52", "11", "10.0.5.97/24"),
            },
        ),
        (
            "d2",
            {
                "VI_1": ("BACKUP", "51", "10", "10.0.5.96/24"),
                "VI_2": ("MASTER", "52", "101", "10.0.5.97/24"),
            },
        ),
    ],
)
def test_dual_master_vrrp_instances(
    director: str, expected: dict[str, tuple[str, str, str, str]]
) -> None:
    text = keepalived_config(TOPO, director)
    instances = blocks(text, "vrrp_instance")
    got = {
        name: (value(b, "state"), value(b, "virtual_router_id"), value(b, "priority"), first_vip(b))
        for name, b in instances.items()
    }
    assert got == expected
    for b in instances.values():
        assert value(b, "advert_int") == "1"
        assert value(b, "interface") == "eth0"
        assert value(b, "auth_type") == "PASS"
    assert "vrrp_strict" not in text


@pytest.mark.parametrize("director", ["d1", "d2"])
def test_virtual_services_dr_rr_tcp_check(director: str) -> None:
    services = blocks(keepalived_config(TOPO, director), "virtual_server")
    assert set(services) == {"10.0.5.96 8888", "10.0.5.97 8888"}
    for body in services.values():
        assert value(body, "lb_algo") == "rr"
        assert value(body, "lb_kind") == "DR"
        assert re.findall(r"real_server (\S+ \d+) \{", body) == ["10.0.5.91 8888", "10.0.5.92 8888"]
        assert body.count("TCP_CHECK {") == 2
        assert body.count("connect_port 8888") == 2


def test_rogue_claims_vrid_51_with_another_vip() -> None:
    text = rogue_config(TOPO)
    (block,) = blocks(text, "vrrp_instance").values()
    assert value(block, "virtual_router_id") == "51"
    assert "10.0.5.98/24" in block and "10.0.5.96" not in block
    assert ROGUE_NODE.address == "10.0.5.99"
    assert "virtual_server" not in text


def test_config_only_for_directors() -> None:
    with pytest.raises(ValueError, match="not a director"):
        keepalived_config(TOPO, "rs1")
    assert {n.role for n in TOPO.directors} == {DIRECTOR}


@pytest.mark.skipif(
    shutil.which("keepalived", path="/usr/sbin:/usr/bin:/sbin:/bin") is None,
    reason="keepalived not installed",
)
@pytest.mark.parametrize("which", ["d1", "d2", "rogue"])
def test_keepalived_accepts_generated_configs(tmp_path: Path, which: str) -> None:
    text = rogue_config(TOPO) if which == "rogue" else keepalived_config(TOPO, which)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    proc = subprocess.run(
        ["keepalived", "-t", "-f", str(conf)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr


# --- VM plumbing ------------------------------------------------------------------------------


def test_init_script_mounts_loads_modules_and_powers_off(tmp_path: Path) -> None:
    text = vm.init_script(tmp_path, {"LVSTOP_IN_LAB": "1", "TERM": "xterm"})
    assert text.startswith("#!/bin/sh\n")
    for line in (
        "mount -t proc proc /proc",
        "mount -t tmpfs tmp /tmp",
        "mount -t tmpfs run /run",
        "mkdir -p /run/netns /dev/pts",
    ):
        assert line in text
    for module in (
        "ip_vs",
        "ip_vs_rr",
        "ip_vs_wlc",
        "ip_vs_mh",
        "veth",
        "bridge",
        "sch_netem",
        "nf_tables",
        "ip_tables",
    ):
        assert re.search(rf"for m in .*\b{module}\b", text)
    assert "-m lvstop.lab.inside" in text
    assert text.rstrip().endswith("poweroff -f")
    assert "export LVSTOP_IN_LAB=1" in text


def test_uml_argv_never_attaches_the_host_network(tmp_path: Path) -> None:
    argv = vm.uml_argv("/usr/bin/linux.uml", tmp_path, 60, interactive=False)
    assert argv[0] == "timeout" and "60s" in argv
    assert not any(re.match(r"eth\d+=", a) for a in argv)
    assert "con0=fd:0,fd:1" in argv and "rootfstype=hostfs" in argv
    assert f"init={tmp_path / 'init.sh'}" in argv
    assert "--foreground" in vm.uml_argv("/x", tmp_path, 60, interactive=True)


def test_payload_round_trip() -> None:
    p = vm.Payload("command", ("ipvsadm", "-Ln"), "d2", (("A", "b"),), wait_healthy=False)
    assert vm.Payload.from_json(p.to_json()) == p


def test_missing_programs_name_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        vm, "REQUIRED_PROGRAMS", (("linux.uml-not-here", "user-mode-linux"), ("ipvsadm", "ipvsadm"))
    )
    with pytest.raises(LvstopError) as err:
        vm.check_host()
    msg = str(err.value)
    assert "apt-get install -y user-mode-linux" in msg and "\n" not in msg


def test_host_paths_under_the_vms_tmpfs_are_mounted_again(tmp_path: Path) -> None:
    # tmp_path is under /tmp: a clone there is re-exposed at its own path, outermost only
    clone = tmp_path / "clone"
    (clone / ".lab" / "run-1").mkdir(parents=True)
    mounts = vm.host_mounts([clone, clone / ".lab" / "run-1", Path("/usr"), Path("/work/x")])
    assert mounts == [os.path.realpath(clone)]
    assert vm.host_mounts([Path("/usr"), Path("/root/lvstop")]) == []
    assert vm.host_mounts([Path("/run/user/0/lvstop")]) == ["/run/user/0/lvstop"]


@pytest.mark.parametrize(
    "path, why",
    [
        ("/tmp", "/tmp itself"),
        ("/run", "/run itself"),
        ("/tmp/mr/x", "its own /tmp/mr"),
        ("/run/netns", "its own /run/netns"),
        ("/run/lvstop-lab/d1", "its own /run/lvstop-lab"),
    ],
)
def test_host_paths_the_vm_keeps_to_itself_are_refused_in_one_line(path: str, why: str) -> None:
    with pytest.raises(LvstopError, match=re.escape(why)) as err:
        vm.host_mounts([Path(path)])
    assert "\n" not in str(err.value)


def test_vm_private_folders_are_the_ones_the_lab_uses() -> None:
    assert str(runtime.RUN_ROOT) in vm.VM_PRIVATE and str(runtime.NETNS_DIR) in vm.VM_PRIVATE


def test_init_script_mounts_a_clone_under_tmp_again(tmp_path: Path) -> None:
    run_dir = tmp_path / ".lab" / "run-1"
    text = vm.init_script(run_dir, {})
    q = os.path.realpath(tmp_path)
    line = f"mkdir -p {q}/.lab/run-1 && mount -t hostfs none {q}/.lab/run-1 -o {q}/.lab/run-1"
    assert line in text
    # after the tmpfs that hides it, before anything uses it
    assert text.index("mount -t tmpfs tmp /tmp") < text.index(line) < text.index("modules")


def test_lab_dir_under_tmp_is_accepted_and_tmp_itself_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LVSTOP_LAB_DIR", str(tmp_path / "lab"))
    assert vm.lab_dir() == (tmp_path / "lab").resolve()
    monkeypatch.setenv("LVSTOP_LAB_DIR", "/tmp")
    with pytest.raises(LvstopError, match="cannot use /tmp itself"):
        vm.lab_dir()


def test_load_factor_follows_the_hosts_load_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LVSTOP_LAB_RUN_DIR", str(tmp_path))
    assert runtime.load_factor() == 1.0  # no file yet: an idle host
    (tmp_path / vm.HOST_LOAD_FILE).write_text("1.50 2\n")
    assert runtime.load_factor() == 1.0  # less than a CPU each: no slower than idle
    (tmp_path / vm.HOST_LOAD_FILE).write_text("6.00 2\n")
    assert runtime.load_factor() == 3.0
    (tmp_path / vm.HOST_LOAD_FILE).write_text("99 1\n")
    assert runtime.load_factor() == runtime.MAX_LOAD_FACTOR
    (tmp_path / vm.HOST_LOAD_FILE).write_text("garbage\n")
    assert runtime.load_factor() == 1.0


def test_the_host_load_is_reported_while_the_vm_runs(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        thread = vm.report_host_load(tmp_path, proc)
        path = tmp_path / vm.HOST_LOAD_FILE
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        load, cpus = path.read_text().split()
        assert float(load) >= 0 and int(cpus) == len(os.sched_getaffinity(0))
    finally:
        proc.kill()
        proc.wait()
    thread.join(60)
    assert not thread.is_alive()  # it stops with the VM


def test_vm_result_failure_lines(tmp_path: Path) -> None:
    (tmp_path / "progress").write_text("modules\nnetwork\n")
    assert "timed out (last step: network)" in (vm.result(tmp_path, 124).failure() or "")
    assert "died without an exit status" in (vm.result(tmp_path, 0).failure() or "")
    (tmp_path / "status").write_text("7\n")
    ok = vm.result(tmp_path, 0)
    assert ok.status == 7 and ok.failure() is None
    (tmp_path / "failed").write_text("lab step 'x' failed: because\n")
    assert vm.result(tmp_path, 0).failure() == "lab step 'x' failed: because"


# --- faults registry (parameter handling needs no VM) ----------------------------------------


def test_every_fault_has_a_description_and_an_undo_pair() -> None:
    names = set(faults.FAULTS)
    assert {
        "keepalived-stop",
        "keepalived-start",
        "keepalived-kill",
        "rs-stop",
        "rs-start",
        "load-start",
        "load-stop",
        "vrrp-cut",
        "vrrp-restore",
        "netem",
        "netem-clear",
        "rogue-start",
        "rogue-stop",
    } <= names
    for fault in faults.FAULTS.values():
        assert fault.description and "\n" not in fault.description
    assert len(faults.describe()) == len(names)


def test_fault_params_are_converted_and_checked() -> None:
    netem = faults.FAULTS["netem"]
    assert faults.parse_params(netem, {"loss": "5", "node": "rs1"}) == {
        "node": "rs1",
        "loss": 5.0,
        "delay": 0.0,
        "jitter": 0.0,
    }
    with pytest.raises(LvstopError, match="no parameter 'bogus'"):
        faults.parse_params(netem, {"bogus": 1})
    with pytest.raises(LvstopError, match="is not a number"):
        faults.parse_params(netem, {"delay": "soon"})


def test_faults_refuse_to_run_outside_the_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVSTOP_IN_LAB", raising=False)
    with pytest.raises(LvstopError, match="only works inside the lab VM"):
        faults.apply("keepalived-stop", node="d1")
    with pytest.raises(LvstopError, match="no lab fault 'explode'"):
        faults.apply("explode")
