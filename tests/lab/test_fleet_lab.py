"""`lvstop --host` end to end in the lab: sshd (Debian's openssh-server) on d1 and d2 with a
key made for the test; from the client namespace, the fleet screen in tmux over real ssh to
both directors, each running the agent file pushed over that connection (``python3 -I -S``:
the director's own lvstop is never imported). ipvsadm on each director is the oracle.

Every wait is on what the screen or the kernel shows (``lab.wait_until``: its deadline grows
with the host's load).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.lab.tmux_client import tmux

if TYPE_CHECKING:
    from lvstop.lab import LabHandle

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
D1, D2 = "root@10.0.5.90", "root@10.0.5.93"
VIP1 = "10.0.5.96"
RS1 = "10.0.5.91"
RS1_KEY = f"tcp:{VIP1}:8888->{RS1}:8888"
#: each Fleet has a tmux server of its own: a new session sent to the socket of the server the
#: last test killed could join that dying server (its has-session already failed while it
#: was still exiting) and vanish with it (the kill test's "session gone", once in four runs)
_SOCKETS = itertools.count(1)
#: seconds (idle host) for ssh, the agent push and the first frames
STARTUP = 45.0
INTERVAL = 1.0


@pytest.fixture(scope="module")
def sshd(lab: LabHandle) -> Any:
    from lvstop.lab import sshd as lab_sshd

    try:
        for node in ("d1", "d2"):
            lab_sshd.start_sshd(lab.topology, node)
    except lab_sshd.SshdMissing as exc:
        pytest.skip(str(exc))
    yield lab_sshd
    for node in ("d1", "d2"):
        lab_sshd.kill_sshd(node)


@pytest.fixture
def ssh_up(lab: LabHandle, sshd: Any) -> Any:
    """Both sshd running before each test (a test may have killed one)."""
    for node in ("d1", "d2"):
        sshd.start_sshd(lab.topology, node)
    return sshd


def weight(lab: LabHandle, node: str, vip: str = VIP1, rs: str = RS1) -> int | None:
    out = lab.run(node, ["ipvsadm", "-Ln", "-t", f"{vip}:8888"]).stdout
    m = re.search(rf"->\s+{re.escape(rs)}:8888\s+\w+\s+(\d+)", out)
    return int(m.group(1)) if m else None


class Fleet:
    """``lvstop --host D1 --host D2`` in tmux in the client namespace."""

    def __init__(self, lab: LabHandle, sshd: Any) -> None:
        self.lab = lab
        self.socket = f"lvstop-fleet-{os.getpid()}-{next(_SOCKETS)}"
        # COLUMNS / LINES: shutil.get_terminal_size (Textual's) reads them before the pane's
        # size, and the VM's environment may carry an 80x24 of its own
        argv = [
            "env",
            "TERM=xterm-256color",
            "LANG=C.UTF-8",
            "COLUMNS=180",
            "LINES=50",
            sys.executable,
            "-m",
            "lvstop",
            "--host",
            D1,
            "--host",
            D2,
            "--ssh-config",
            str(sshd.client_config()),
            "--agent",
            "push",
            "--interval",
            f"{INTERVAL:g}",
        ]
        lab.run(
            "client",
            [
                "tmux",
                "-L",
                self.socket,
                "new-session",
                "-d",
                "-s",
                "fleet",
                "-x",
                "180",
                "-y",
                "50",
                *argv,
            ],
        )
        # if lvstop ends, its last screen (a traceback) stays for the failure message
        tmux(lab, self.socket, "set-option", "-t", "fleet", "remain-on-exit", "on", check=False)
        # a detached session may start at tmux's default 80x24: the app redraws on the resize
        tmux(lab, self.socket, "resize-window", "-t", "fleet", "-x", "180", "-y", "50", check=False)
        try:
            self.wait_for(r"─ Directors", timeout=STARTUP, what="the fleet's first frame")
        except BaseException:
            self.close()
            raise

    def screen(self) -> str:
        return tmux(self.lab, self.socket, "capture-pane", "-p", "-t", "fleet").stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            tmux(self.lab, self.socket, "send-keys", "-t", "fleet", key)
            time.sleep(self.lab.scaled(0.15))  # paced: each key gets its turn

    def wait_for(self, pattern: str, timeout: float = 15.0, what: str = "") -> str:
        rx = re.compile(pattern, re.M)

        def seen() -> str | None:
            text = self.screen()
            return text if rx.search(text) else None

        try:
            return str(
                self.lab.wait_until(seen, timeout=timeout, what=what or f"screen shows {pattern}")
            )
        except AssertionError as exc:
            size = tmux(
                self.lab,
                self.socket,
                "display",
                "-p",
                "-t",
                "fleet",
                "#{window_width}x#{window_height}",
                check=False,
            ).stdout.strip()
            raise AssertionError(f"{exc}; the screen ({size}):\n{self.screen()}") from None

    def close(self) -> None:
        tmux(self.lab, self.socket, "kill-server", check=False)
        # gone before the next test (its lvstop and ssh connections with it)
        self.lab.wait_until(
            lambda: tmux(self.lab, self.socket, "has-session", check=False).returncode != 0,
            timeout=10,
            what="the fleet's tmux server gone",
        )


@pytest.fixture
def fleet(lab: LabHandle, ssh_up: Any) -> Iterator[Fleet]:
    f = Fleet(lab, ssh_up)
    try:
        yield f
    finally:
        f.close()


LIVE_D1 = rf"{re.escape(D1)} +live\b"
LIVE_D2 = rf"{re.escape(D2)} +live\b"


def test_both_directors_their_vrid_matrix_and_a_hand_made_difference(
    fleet: Fleet, lab: LabHandle
) -> None:
    fleet.wait_for(LIVE_D1, timeout=STARTUP, what="d1 live")
    fleet.wait_for(LIVE_D2, timeout=STARTUP, what="d2 live")
    # each director's keepalived state per VRID; the wire's master named by its director
    fleet.wait_for(
        r"^\S*\s+51 +MASTER +BACKUP +10\.0\.5\.90 \(root@10\.0\.5\.90\)",
        timeout=30,
        what="VRID 51: d1 MASTER, d2 BACKUP, the wire says d1",
    )
    fleet.wait_for(
        r"^\S*\s+52 +BACKUP +MASTER +10\.0\.5\.93 \(root@10\.0\.5\.93\)",
        timeout=30,
        what="VRID 52: d2 MASTER",
    )
    fleet.wait_for(r"none: the IPVS tables agree", what="no difference at first")
    try:
        lab.run("d2", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS1}:8888", "-g", "-w", "3"])
        start = time.monotonic()
        fleet.wait_for(
            rf"{re.escape(RS1_KEY)} +weight +{re.escape(D1)}: 1 +"
            rf"{re.escape(D2)}: 3",
            what="the weight difference",
        )
        took = time.monotonic() - start
        print(f"\nfleet: a change on d2 shown after {took:.2f} s (interval {INTERVAL:g} s)")
        # the bound: within 2 refresh intervals (+ this test's own tmux round trip)
        assert took <= lab.scaled(2 * INTERVAL + 1.5), took
    finally:
        lab.run("d2", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS1}:8888", "-g", "-w", "1"])
    fleet.wait_for(r"none: the IPVS tables agree", what="the difference gone")


def test_drain_and_restore_on_both_directors(fleet: Fleet, lab: LabHandle, ssh_up: Any) -> None:
    fleet.wait_for(LIVE_D1, timeout=STARTUP, what="d1 live")
    fleet.wait_for(LIVE_D2, timeout=STARTUP, what="d2 live")
    fleet.keys("Enter")  # the first director: d1's screen, its first real server: rs1 of VIP1
    fleet.wait_for(rf"Real servers on {re.escape(D1)}", what="d1's screen")
    fleet.wait_for(rf"{re.escape(RS1)}:8888 .*{re.escape(D2)}: w1", what="rs1, d2's weight")
    fleet.keys("D")
    fleet.wait_for(rf"Drain {re.escape(RS1_KEY)} on every director", what="the dialog")
    fleet.wait_for(rf"{re.escape(D1)}: weight 1 → 0", what="d1's before → after")
    fleet.wait_for(rf"{re.escape(D2)}: weight 1 → 0", what="d2's before → after")
    assert weight(lab, "d1") == 1 and weight(lab, "d2") == 1  # nothing before the answer
    fleet.keys("y")
    for node in ("d1", "d2"):

        def drained(n: str = node) -> bool:
            return weight(lab, n) == 0

        lab.wait_until(drained, timeout=15, what=f"ipvsadm on {node}: rs1 drained")
    fleet.wait_for(rf"drain {re.escape(RS1_KEY)}: done on", what="the result")
    for node in ("d1", "d2"):  # each director's own audit log has it
        audit = Path(ssh_up.audit_log(node)).read_text()
        assert f'"action": "drain", "object": "{RS1_KEY}"' in audit, audit
        assert (
            json.loads(Path(ssh_up.state_file(node)).read_text())["drained"][RS1_KEY]["weight"] == 1
        )
    fleet.wait_for(r"0 ⇢1", what="d1's rs1 drained with its return weight")
    fleet.keys("R")
    fleet.wait_for(rf"{re.escape(D2)}: weight 0 → 1", what="the restore dialog")
    fleet.keys("y")
    for node in ("d1", "d2"):

        def restored(n: str = node) -> bool:
            return weight(lab, n) == 1

        lab.wait_until(restored, timeout=15, what=f"ipvsadm on {node}: rs1 restored")


def test_one_sshd_killed_shows_that_director_down_the_other_live(
    fleet: Fleet, lab: LabHandle, ssh_up: Any
) -> None:
    fleet.wait_for(LIVE_D1, timeout=STARTUP, what="d1 live")
    fleet.wait_for(LIVE_D2, timeout=STARTUP, what="d2 live")
    ssh_up.kill_sshd("d2")
    fleet.wait_for(rf"{re.escape(D2)} +DOWN", timeout=30, what="d2 down")
    fleet.wait_for(
        rf"{re.escape(D2)}: .*(refused|closed|reset|No route|timed out)", what="d2's reason"
    )
    # d1 stays live: a change on d1 still shows
    try:
        lab.run("d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS1}:8888", "-g", "-w", "5"])
        fleet.keys("Enter")
        fleet.wait_for(rf"{re.escape(RS1)}:8888 +\S+ +5\b", what="d1's new weight while d2 down")
    finally:
        lab.run("d1", ["ipvsadm", "-e", "-t", f"{VIP1}:8888", "-r", f"{RS1}:8888", "-g", "-w", "1"])
    fleet.keys("Escape")
    ssh_up.start_sshd(lab.topology, "d2")  # reconnected after its backoff
    fleet.wait_for(LIVE_D2, timeout=60, what="d2 live again")


# -- the agent over ssh without the screen --------------------------------------------------


def ssh_wrapper(sshd: Any) -> str:
    """An ``ssh`` that runs in the client namespace (the test itself is in the VM's root)."""
    path = sshd.SSH_DIR / "ssh-from-client"
    path.write_text('#!/bin/sh\nexec ip netns exec client ssh "$@"\n')
    path.chmod(0o755)
    return str(path)


@contextlib.asynccontextmanager
async def connected(
    lab: LabHandle, sshd: Any, targets: list[str], ready: Any = None
) -> AsyncIterator[list[Any]]:
    """AgentClients over real ssh from the client namespace, once all are live (and
    ``ready(view)``)."""
    from lvstop.fleet.client import AgentClient, ConnectOptions, parse_target

    options = ConnectOptions(
        interval=INTERVAL,
        agent="push",
        ssh=ssh_wrapper(sshd),
        ssh_options=("-F", str(sshd.client_config())),
    )
    clients = [AgentClient(parse_target(t), options) for t in targets]
    tasks = [asyncio.create_task(c.run()) for c in clients]
    try:
        deadline = time.monotonic() + lab.scaled(STARTUP + 15)
        while not all(c.view().live and (ready is None or ready(c.view())) for c in clients):
            assert time.monotonic() < deadline, [c.view() for c in clients]
            await asyncio.sleep(0.2)
        yield clients
    finally:
        for c in clients:
            await c.close()
        for t in tasks:
            t.cancel()


def test_pushed_agent_runs_isolated_and_refuses_a_vanished_real_server(
    lab: LabHandle, ssh_up: Any
) -> None:
    # lvstop is not importable by the director's python3 as the agent runs it
    proc = lab.run("d1", ["python3", "-I", "-S", "-c", "import lvstop"], check=False)
    assert proc.returncode == 1 and "No module named 'lvstop'" in proc.stderr

    state = Path(ssh_up.state_file("d1"))
    before = state.read_bytes() if state.exists() else None  # a drain test may have made it

    async def scenario() -> tuple[dict[str, Any], str, dict[str, Any]]:
        async with connected(lab, ssh_up, [D1]) as (c,):
            try:
                await c.request("drain", rs=f"tcp:{VIP1}:8888->10.0.5.99:8888")
                vanished = "done?"
            except Exception as exc:
                vanished = str(exc)
            ps = lab.run("d1", ["ps", "-ww", "-eo", "args"]).stdout
            return c.hello, vanished, {"ping": await c.request("ping"), "ps": ps}

    hello, vanished, more = asyncio.run(scenario())
    assert hello["schema"] == "lvstop.agent/1" and hello["uid"] == 0
    assert "not in service" in vanished, vanished
    assert more["ping"]["pong"] is True
    assert re.search(r"python3 -I -S \S+/\.cache/lvstop/agent-[0-9a-f]{32}\.pyz", more["ps"])
    # a refused write makes no file and changes none
    assert (state.read_bytes() if state.exists() else None) == before
    # the file this run's sources make is cached by its hash (a run whose sources changed
    # meanwhile left its own beside it)
    from lvstop.agent.bundle import bundle

    cache = list((ssh_up.node_home("d1") / ".cache" / "lvstop").iterdir())
    assert f"agent-{bundle().digest[:32]}.pyz" in [p.name for p in cache], cache


def test_record_two_directors_for_the_fleet_screen_tests(lab: LabHandle, ssh_up: Any) -> None:
    """Each director's hello and state as the fleet client holds them, saved under
    .lab/fleet-record/ (tests/data/fleet/ is a copy of one run)."""

    async def run() -> list[dict[str, Any]]:
        def ready(v: Any) -> bool:
            return bool(v.instances and v.wire and v.cpu_percent is not None)

        async with connected(lab, ssh_up, [D1, D2], ready) as clients:
            return [{"name": c.name, "hello": c.hello, "state": c.state} for c in clients]

    out = ROOT / ".lab" / "fleet-record"
    out.mkdir(parents=True, exist_ok=True)
    for data, node in zip(asyncio.run(run()), ("d1", "d2"), strict=True):
        (out / f"{node}.json").write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"\nrecorded {shlex.join(str(p) for p in sorted(out.iterdir()))}")


def test_quiet_director_sends_near_nothing_per_refresh(lab: LabHandle, ssh_up: Any) -> None:
    """After the snapshot and keepalived's first dump, with nothing changing on d1 (no load),
    the bytes the agent sends over ssh across 20 refreshes (the host figures every 10 s, ticks),
    the answers to this test's own pings left out."""

    async def run() -> tuple[int, int, dict[str, int], dict[str, int]]:
        def settled(v: Any) -> bool:  # keepalived's own dump in: no first-dump change left
            return bool(v.instances) and all(i.source == "keepalived" for i in v.instances)

        async with connected(lab, ssh_up, [D1], settled) as (c,):
            start_seq = seq = (await c.request("ping"))["seq"]
            start = c.bytes_in - c.bytes_by_type.get("result", 0)
            types, sections = dict(c.bytes_by_type), dict(c.updates_by_section)
            while seq < start_seq + 20:
                await asyncio.sleep(INTERVAL)  # pacing the pings, not a wait for a result
                seq = (await c.request("ping"))["seq"]
            types = {k: v - types.get(k, 0) for k, v in c.bytes_by_type.items()}
            sections = {k: v - sections.get(k, 0) for k, v in c.updates_by_section.items()}
            return (
                c.bytes_in - c.bytes_by_type.get("result", 0) - start,
                seq - start_seq,
                types,
                sections,
            )

    sent, refreshes, types, sections = asyncio.run(run())
    per = sent / refreshes
    print(
        f"\nfleet: {sent} bytes over {refreshes} refreshes with nothing changing "
        f"({per:.0f} bytes per refresh); bytes by line type {types}, updates by section "
        f"{sections}"
    )
    assert per < 30, per


def cpu_seconds(pid: int) -> float:
    import os

    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (ip netns exec → python)."""
    import os

    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as handle:
                        if int(handle.read().rsplit(b")", 1)[1].split()[1]) == p:
                            todo.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
    return total


def test_agent_cpu_at_100x10_is_at_most_the_dashboards(lab: LabHandle) -> None:
    """100 services × 10 real servers in a netns of their own, nothing changing: the agent's
    CPU over the same span as the local dashboard's, polling every second (same boot)."""
    import subprocess

    rules = []
    for s in range(100):
        vip = f"10.9.{s // 250}.{s % 250 + 1}"
        rules.append(f"-A -t {vip}:80 -s wlc")
        rules += [f"-a -t {vip}:80 -r 10.8.{s % 250}.{r + 1}:80 -g -w 1" for r in range(10)]
    span = 20.0
    with lab.scratch_netns() as ns:
        subprocess.run(
            ["ip", "netns", "exec", ns, "ipvsadm", "-R"],
            input="\n".join(rules),
            text=True,
            check=True,
            timeout=lab.scaled(60),
        )
        agent = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                sys.executable,
                "-m",
                "lvstop",
                "agent",
                "--no-vrrp",
                "--interval",
                "1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert agent.stdout is not None
            agent.stdout.readline()  # hello
            assert b'"snapshot"' in agent.stdout.readline()
            start = tree_cpu(agent.pid)
            time.sleep(span)  # the measured span, not a wait for something
            agent_cpu = tree_cpu(agent.pid) - start
        finally:
            agent.kill()
            agent.wait()
        dash = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "tmux",
                "-L",
                "lvstop-cpu",
                "new-session",
                "-d",
                "-s",
                "cpu",
                "-P",
                "-F",
                "#{pane_pid}",
                "-x",
                "160",
                "-y",
                "48",
                "env",
                "TERM=xterm-256color",
                "LANG=C.UTF-8",
                "COLUMNS=160",
                "LINES=48",
                sys.executable,
                "-m",
                "lvstop",
                "top",
                "--no-vrrp",
                "--interval",
                "1",
                "--read-only",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = dash.communicate(timeout=lab.scaled(30))
        pane = int(out.strip())
        try:

            def drawn() -> bool:
                screen = tmux(lab, "lvstop-cpu", "capture-pane", "-p", "-t", "cpu").stdout
                return re.search(r"TCP 10\.9\.\d+\.\d+:80 +wlc +10/10", screen) is not None

            try:
                lab.wait_until(drawn, timeout=60, what="the dashboard showing the 100×10 table")
            except AssertionError as exc:
                screen = tmux(lab, "lvstop-cpu", "capture-pane", "-p", "-t", "cpu", check=False)
                raise AssertionError(
                    f"{exc}; the screen:\n{screen.stdout}{screen.stderr}"
                ) from None
            start = tree_cpu(pane)
            time.sleep(span)
            dash_cpu = tree_cpu(pane) - start
        finally:
            tmux(lab, "lvstop-cpu", "kill-server", check=False)
    print(
        f"\nCPU over {span:g} s at 100x10, 1 s polls, nothing changing: agent "
        f"{agent_cpu:.2f} s ({100 * agent_cpu / span:.1f} %), dashboard {dash_cpu:.2f} s "
        f"({100 * dash_cpu / span:.1f} %)"
    )
    assert agent_cpu <= dash_cpu


def test_f_opens_one_directors_full_dashboard_over_its_agent(fleet: Fleet, lab: LabHandle) -> None:
    """What the local dashboard on d1 shows (tests/lab/test_dashboard.py), from d1's agent
    in the client namespace: its services, its VRRP panel (d1's own wire: VRID 51 mastered
    by d1, "yes": d1 holds the VIP), keepalived's verdicts and the connection table."""
    fleet.wait_for(LIVE_D1, timeout=STARTUP, what="d1 live")
    fleet.keys("Enter")
    fleet.wait_for(rf"Real servers on {re.escape(D1)}", what="d1's screen")
    fleet.keys("f")  # lvstop top --via root@10.0.5.90: the dashboard, its data over ssh
    fleet.wait_for(r"─Services", timeout=STARTUP, what="the full dashboard")
    fleet.wait_for(
        rf"{re.escape(VIP1)}:8888 +rr\b", timeout=30, what="d1's services in the full dashboard"
    )
    fleet.wait_for(r"\b51 +10\.0\.5\.90 +yes +100\b", timeout=30, what="VRID 51: d1, there")
    fleet.wait_for(r"\b52 +10\.0\.5\.93 +101\b", timeout=30, what="VRID 52: d2")
    fleet.wait_for(rf"{RS1}:8888 .* up\b", timeout=30, what="rs1 up per d1's keepalived")
    fleet.wait_for(r"keepalived: config × kernel|keepalived's view", what="the verdicts' source")
    # one connection through d1's service (VIP 1: d1 is its master): an entry in d1's table
    # for 120 s (TIME_WAIT)
    lab.run(
        "client",
        [
            sys.executable,
            "-c",
            f"import urllib.request as u; u.urlopen('http://{VIP1}:8888/', timeout=10).read()",
        ],
    )
    fleet.keys("c")
    fleet.wait_for(
        r"[1-9]\d* entries +states: .*\n.*10\.0\.5\.9[12]:8888",
        timeout=30,
        what="d1's connection table over its agent, with the client's connection",
    )
    fleet.keys("Escape")
    fleet.wait_for(r"─Services", what="back in the full dashboard")
    fleet.keys("q")
    fleet.wait_for(rf"Real servers on {re.escape(D1)}", timeout=30, what="back in the fleet")
    fleet.keys("Escape")
    fleet.wait_for(LIVE_D2, what="the fleet still live")


LAB_SUDOER, LAB_NO_SUDO = "lvstop-op", "lvstop-nosudo"


def test_sudo_n_runs_the_agent_as_root_and_a_refusal_is_said(lab: LabHandle, ssh_up: Any) -> None:
    """Two users of d1 log in with the lab key and run the agent with ``sudo -n``: one has a
    NOPASSWD rule for the agent file in its own cache, the other none. The first is live as
    root (its agent reads IPVS, as ipvsadm on d1 does), the second is down with sudo's own
    reason, and the first keeps working."""
    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed (Debian package sudo; ./dev.sh installs it)")
    uid = 4242
    rules = []
    try:
        home = ssh_up.add_user(LAB_SUDOER, uid)
        agent = f"{home}/.cache/lvstop/agent-*.pyz *"
        rules = [f"/usr/bin/python3 -I -S {agent}", f"/bin/python3 -I -S {agent}"]
        ssh_up.add_user(LAB_SUDOER, uid, f"{LAB_SUDOER} ALL=(root) NOPASSWD: {', '.join(rules)}")
        ssh_up.add_user(LAB_NO_SUDO, uid + 1)
        # sshd sees the VM's new /etc only when started after it (`ip netns exec` gives each
        # its own copy of the mounts, and the VM's mounts are private: nothing propagates)
        ssh_up.kill_sshd("d1")
        ssh_up.start_sshd(lab.topology, "d1")
        from lvstop.fleet.client import AgentClient, ConnectOptions, parse_target

        options = ConnectOptions(
            interval=INTERVAL,
            agent="push",
            sudo=True,
            vrrp=False,
            ssh=ssh_wrapper(ssh_up),
            ssh_options=("-F", str(ssh_up.client_config())),
        )
        names = [f"{LAB_SUDOER}@10.0.5.90", f"{LAB_NO_SUDO}@10.0.5.90"]

        async def run() -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
            ok, refused = (AgentClient(parse_target(n), options) for n in names)
            tasks = [asyncio.create_task(c.run()) for c in (ok, refused)]
            try:
                deadline = time.monotonic() + lab.scaled(STARTUP + 15)
                while not (ok.view().live and refused.view().status == "down"):
                    assert time.monotonic() < deadline, (
                        f"{ok.view()}\n{refused.view()}\nd1's sshd log:\n" + ssh_up.sshd_log("d1")
                    )
                    await asyncio.sleep(0.2)
                ping = await ok.request("ping")  # the one with sudo goes on
                assert ok.state is not None
                return ok.view(), refused.view(), ok.hello, {"ping": ping, **ok.state}
            finally:
                for c in (ok, refused):
                    await c.close()
                for t in tasks:
                    t.cancel()

        live, down, hello, state = asyncio.run(run())
    finally:
        ssh_up.remove_users()
        ssh_up.kill_sshd("d1")  # the next one sees the VM's own /etc again
        ssh_up.start_sshd(lab.topology, "d1")
    print(f"\nsudo refused: {down.reason}")
    assert down.reason.startswith("sudo refused: "), down.reason
    # sudo's own words: "a password is required" (no rule lets it run without one)
    assert "password" in down.reason or "sudoers" in down.reason, down.reason
    assert hello["uid"] == 0, hello  # sudo -n ran it as root
    assert state["ping"]["pong"] is True
    assert f"tcp:{VIP1}:8888" in state["service"], sorted(state["service"])
    assert RS1_KEY in state["real_server"]
    assert live.keepalived_running
