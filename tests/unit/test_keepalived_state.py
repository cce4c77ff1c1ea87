"""keepalived's dumps (recorded from keepalived 2.2.7 in the lab) and process discovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lvstop.model.keepalived import GlobalDefs
from lvstop.sources.keepalived_state import (
    _pid_files,
    find_processes,
    parse_check_data,
    parse_vrrp_data,
    parse_vrrp_json,
)

# keepalived 2.2.7 on its own samples (SET=samples tests/data/keepalived/record_corpus.sh)
ORACLE = Path(__file__).resolve().parent.parent / "data" / "keepalived" / "samples-oracle"


def test_vrrp_data_dump() -> None:
    insts = parse_vrrp_data(
        (ORACLE / "keepalived.conf.vrrp.localcheck.keepalived.data").read_text()
    )
    assert [i.name for i in insts] == [f"VI_{n}" for n in range(1, 10)]
    vi1 = insts[0]
    assert (vi1.virtual_router_id, vi1.interface, vi1.priority) == (51, "eth0", 100)
    assert vi1.vips == ("192.168.200.18/25",)
    assert vi1.state in ("MASTER", "BACKUP", "FAULT", "INIT")
    assert vi1.last_transition and vi1.last_transition > 1.7e9


def test_vrrp_json_dump_agrees_with_data_dump() -> None:
    data = parse_vrrp_data((ORACLE / "keepalived.conf.vrrp.keepalived.data").read_text())
    js = parse_vrrp_json((ORACLE / "keepalived.conf.vrrp.keepalived.json").read_text())
    assert [(i.name, i.virtual_router_id, set(i.vips)) for i in data] == [
        (i.name, i.virtual_router_id, set(i.vips)) for i in js
    ]


def test_check_data_dump() -> None:
    (vs,) = parse_check_data((ORACLE / "keepalived.conf.quorum.keepalived_check.data").read_text())
    assert (vs.address, vs.port, vs.lb_algo, vs.quorum, vs.hysteresis) == (
        "10.0.1.1",
        80,
        "wrr",
        7,
        2,
    )
    # alpha: every real server starts down, so the quorum is lost
    assert vs.quorum_up is False
    assert all(not rs.alive for rs in vs.real_servers)
    assert [c.type for c in vs.real_servers[0].checkers] == ["TCP_CHECK"]
    (vs,) = parse_check_data((ORACLE / "keepalived.conf.sample.keepalived_check.data").read_text())
    assert vs.sorry_server == "[192.168.200.200]:tcp:1358"
    (vs,) = parse_check_data((ORACLE / "keepalived.conf.fwmark.keepalived_check.data").read_text())
    assert vs.fwmark == 1 and [rs.port for rs in vs.real_servers] == [0, 0]


def test_dump_file_names() -> None:
    assert GlobalDefs().dump_file("keepalived.data", "/run/x") == "/run/x/keepalived.data"
    defs = GlobalDefs(instance="i1", net_namespace="blue", data_use_instance=True)
    assert defs.dump_file("keepalived_check.data") == "/tmp/keepalived_check.blue_i1.data"


def test_pid_files_from_command_line() -> None:
    files = _pid_files(["keepalived", "-p", "/r/k.pid", "--vrrp_pid=/r/v.pid", "-c", "/r/c.pid"])
    assert files["parent"] == "/r/k.pid" and files["vrrp"] == "/r/v.pid"
    assert files["checker"] == "/r/c.pid" and files["bfd"] == "/run/bfd.pid"


def proc(pid: int, ppid: int, cmdline: list[str], untrusted: str | None = None) -> dict[str, Any]:
    return {
        "pid": pid,
        "ppid": ppid,
        "cmdline": cmdline,
        "create_time": 100.0,
        "uids": (0, 0, 0),
        "untrusted": untrusted,
    }


def test_find_processes_groups_parent_and_children() -> None:
    cmd = ["/usr/sbin/keepalived", "-f", "/etc/k/ka.conf", "-D"]
    procs = [
        proc(10, 1, cmd),
        proc(11, 10, cmd),
        proc(12, 10, cmd),
        proc(13, 1, ["keepalived"], untrusted="runs as uid 65534, not root"),
        proc(14, 13, ["keepalived"], untrusted="runs as uid 65534, not root"),
    ]
    found = find_processes(procs)
    assert next((p.pid, p.role) for p in found) == (10, "parent")
    assert {p.pid for p in found} == {10, 11, 12}
    assert all(p.config_path == "/etc/k/ka.conf" for p in found)


def test_check_data_quorum_zero_is_zero() -> None:
    # corpus 94: real servers of weight 0; keepalived lowers the quorum to 0 and, in unsigned
    # arithmetic, the hysteresis to quorum - 1 (its own dump says so)
    corpus = ORACLE.parent / "corpus-oracle"
    text = (corpus / "94-weight-zero-standby.keepalived_check.data").read_text()
    assert "quorum = 0, hysteresis = 4294967295" in text
    (vs,) = parse_check_data(text)
    assert (vs.quorum, vs.hysteresis) == (0, 4294967295)
