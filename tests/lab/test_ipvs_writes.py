"""lvstop's IPVS writes, checked by ipvsadm (lab VM, scratch netns per test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lvstop.lab.handle import LabHandle

if TYPE_CHECKING:
    from lvstop.actions import IpvsWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle

pytestmark = pytest.mark.lab

RULES = """\
-A -t 10.0.5.96:8888 -s wrr
-a -t 10.0.5.96:8888 -r 10.0.5.91:8888 -g -w 5 -x 100 -y 10
-a -t 10.0.5.96:8888 -r 10.0.5.92:8888 -g -w 3
-A -t [2001:db8::1]:80 -s rr
-a -t [2001:db8::1]:80 -r [2001:db8::7]:80 -i -w 4 --tun-type gue --tun-port 6080 --tun-csum
-A -f 7 -s sh -b sh-port
-a -f 7 -r 10.0.5.93:0 -m -w 2
"""
RS1 = "tcp:10.0.5.96:8888->10.0.5.91:8888"
RS6 = "tcp:[2001:db8::1]:80->[2001:db8::7]:80"
FWM = "fwm:7->10.0.5.93:0"


def ns_run(
    ns: str,
    argv: list[str],
    stdin: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if check:
        assert proc.returncode == 0, f"{argv}: {proc.stderr.strip()}"
    return proc


def listed(ns: str, view: str = "persistent") -> dict[str, ipvs_oracle.ListedService]:
    services: dict[str, ipvs_oracle.ListedService] = ipvs_oracle.parse_list(
        ns_run(ns, ["ipvsadm", *ipvs_oracle.IPVSADM_VIEWS[view]]).stdout
    )
    return services


def weight_of(ns: str, rs_key: str) -> int:
    svc_key, _, ep = rs_key.rpartition("->")
    return int(listed(ns)[svc_key].real_servers[ep][0])


@pytest.fixture
def table(lab: LabHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state_dir = Path(tmp_path_factory.mktemp("ipvs-writes"))
    with lab.scratch_netns() as ns:
        ns_run(ns, ["ipvsadm", "-R"], stdin=RULES)
        yield ns, state_dir


def writer_in(lab: LabHandle, ns: str, state_dir: Path) -> IpvsWriter:
    from lvstop.actions import AuditLog, DrainState, IpvsWriter
    from lvstop.sources.ipvs import IpvsNetlink, IpvsReader

    with lab.netns(ns):
        reader = IpvsReader(IpvsNetlink())
    return IpvsWriter(
        reader,
        audit=AuditLog(state_dir / "audit.log", use_syslog=False),
        state=DrainState(state_dir / "drained.json"),
    )


def audit_lines(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir / "audit.log").read_text().splitlines()]


def test_set_weight_is_seen_by_ipvsadm_and_audited(lab: LabHandle, table: tuple[str, Path]) -> None:
    ns, state_dir = table
    w = writer_in(lab, ns, state_dir)
    change = w.set_weight(RS1, 42)
    assert weight_of(ns, RS1) == 42
    assert (change.before, change.after) == ("5", "42")
    # thresholds and forwarding kept
    th = listed(ns, "thresholds")["tcp:10.0.5.96:8888"].real_servers["10.0.5.91:8888"]
    assert th[:2] == ["100", "10"]
    w.set_weight(FWM, 9)
    assert weight_of(ns, FWM) == 9
    entry = audit_lines(state_dir)[0]
    assert entry["object"] == RS1 and entry["before"] == "5" and entry["after"] == "42"
    assert entry["result"] == "ok" and entry["user"]


def test_weight_on_tunnel_keeps_gue_settings(lab: LabHandle, table: tuple[str, Path]) -> None:
    ns, state_dir = table
    writer_in(lab, ns, state_dir).set_weight(RS6, 8)
    save = ipvs_oracle.parse_save(ns_run(ns, ["ipvsadm", "-Sn"]).stdout)
    rs = save["tcp:[2001:db8::1]:80"].real_servers["[2001:db8::7]:80"]
    assert rs["weight"] == 8 and rs["tunnel_type"] == "gue" and rs["tunnel_port"] == 6080
    assert rs["tunnel_flags"] == ("csum",)


def test_drain_new_process_restore_gives_the_old_weight(
    lab: LabHandle, table: tuple[str, Path]
) -> None:
    ns, state_dir = table
    lvstop = [sys.executable, "-m", "lvstop"]
    opts = [
        "--audit-log",
        str(state_dir / "audit.log"),
        "--state-file",
        str(state_dir / "drained.json"),
    ]
    out = ns_run(ns, [*lvstop, "drain", RS1, *opts], env={"SUDO_USER": "alice"}).stdout
    assert "drained" in out
    assert weight_of(ns, RS1) == 0
    remembered = json.loads((state_dir / "drained.json").read_text())["drained"]
    assert remembered[RS1]["weight"] == 5
    # a second drain keeps the remembered weight
    ns_run(ns, [*lvstop, "drain", RS1, *opts])
    # another process restores
    out = ns_run(ns, [*lvstop, "restore", RS1, *opts]).stdout
    assert "restored" in out
    assert weight_of(ns, RS1) == 5
    assert RS1 not in json.loads((state_dir / "drained.json").read_text())["drained"]
    users = {e["user"] for e in audit_lines(state_dir)}
    assert "alice" in users
    # nothing remembered any more: restore without a weight fails with one line
    proc = ns_run(ns, [*lvstop, "restore", RS1, *opts], check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("lvstop: no remembered weight")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_timeouts_zero_leaves_unchanged(lab: LabHandle, table: tuple[str, Path]) -> None:
    ns, state_dir = table
    w = writer_in(lab, ns, state_dir)
    before = ipvs_oracle.parse_timeouts(ns_run(ns, ["ipvsadm", "-Ln", "--timeout"]).stdout)
    w.set_timeouts(0, 33, 0)
    after = ipvs_oracle.parse_timeouts(ns_run(ns, ["ipvsadm", "-Ln", "--timeout"]).stdout)
    assert after == (before[0], 33, before[2])
    w.set_timeouts(1000, 0, 77)
    after = ipvs_oracle.parse_timeouts(ns_run(ns, ["ipvsadm", "-Ln", "--timeout"]).stdout)
    assert after == (1000, 33, 77)


def test_vanished_real_server_fails_cleanly(lab: LabHandle, table: tuple[str, Path]) -> None:
    from lvstop.actions import ActionError

    ns, state_dir = table
    w = writer_in(lab, ns, state_dir)
    w.reader.read()
    ns_run(ns, ["ipvsadm", "-d", "-t", "10.0.5.96:8888", "-r", "10.0.5.92:8888"])
    with pytest.raises(ActionError, match=r"not in service .* \(any more\)"):
        w.set_weight("tcp:10.0.5.96:8888->10.0.5.92:8888", 1)
    ns_run(ns, ["ipvsadm", "-D", "-t", "10.0.5.96:8888"])
    with pytest.raises(ActionError, match="does not exist"):
        w.drain(RS1)
    assert "->" not in ns_run(ns, ["ipvsadm", "-Sn"]).stdout.split("10.0.5.96")[-1]


def test_write_the_kernel_rejects_changes_nothing_and_says_why(
    lab: LabHandle, table: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import lvstop.actions as actions
    from lvstop.actions import ActionError

    ns, state_dir = table
    w = writer_in(lab, ns, state_dir)
    monkeypatch.setattr(actions, "MAX_WEIGHT", 2**32 - 1)  # let it reach the kernel
    with pytest.raises(ActionError, match=r"kernel rejected weight .*ERANGE"):
        w.set_weight(RS1, 2**31)  # an int < 0 to the kernel
    assert weight_of(ns, RS1) == 5
    assert audit_lines(state_dir)[-1]["result"].startswith("rejected: ERANGE")


def test_cli_errors_are_one_line(lab: LabHandle, table: tuple[str, Path]) -> None:
    ns, state_dir = table
    opts = [
        "--audit-log",
        str(state_dir / "audit.log"),
        "--state-file",
        str(state_dir / "drained.json"),
    ]
    for argv in (
        ["weight", "nonsense", "3"],
        ["weight", RS1, "70000"],
        ["timeouts", "0", "0", "0"],
        ["drain", "tcp:10.9.9.9:1->10.0.0.1:1"],
    ):
        proc = ns_run(ns, [sys.executable, "-m", "lvstop", *argv, *opts], check=False)
        assert proc.returncode == 2, argv
        assert proc.stderr.startswith("lvstop: ") and len(proc.stderr.splitlines()) == 1, (
            proc.stderr
        )
    assert weight_of(ns, RS1) == 5
