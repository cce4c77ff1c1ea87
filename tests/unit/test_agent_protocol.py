"""The lvstop.agent/1 protocol: diffs, request checks, and the real agent process on this host
(no IPVS here: every write is refused by the kernel's absence, and nothing is written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lvstop.agent.protocol import (
    SECTIONS,
    RequestError,
    apply_update,
    diff_state,
    empty_state,
    load_state,
    parse_request,
)

values = st.recursive(
    st.none() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
states = st.fixed_dictionaries(
    {s: st.dictionaries(st.text(max_size=6), values, max_size=4) for s in SECTIONS}
)


@given(states, states)
def test_diff_then_apply_gives_the_new_state(old: dict[str, Any], new: dict[str, Any]) -> None:
    changed, deleted = diff_state(old, new)
    state = load_state(json.loads(json.dumps(old)))
    apply_update(state, json.loads(json.dumps(changed)), json.loads(json.dumps(deleted)))
    assert state == new


@given(states)
def test_nothing_changed_nothing_sent(state: dict[str, Any]) -> None:
    assert diff_state(state, json.loads(json.dumps(state))) == ({}, {})


def test_one_real_server_changed_sends_only_it() -> None:
    old = empty_state()
    old["real_server"] = {"a": {"weight": 1}, "b": {"weight": 1}}
    new = empty_state()
    new["real_server"] = {"a": {"weight": 0}}
    assert diff_state(old, new) == ({"real_server": {"a": {"weight": 0}}}, {"real_server": ["b"]})


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "malformed request: not JSON"),
        ("[1, 2]", "malformed request: not a JSON object"),
        ('{"op": "drain", "rs": "x"}', "malformed request: id must be"),
        ('{"id": true, "op": "ping"}', "malformed request: id must be"),
        ('{"id": 1}', "malformed request: no op"),
        ('{"id": 1, "op": "reboot"}', 'unknown op "reboot"'),
        ('{"id": 1, "op": "drain"}', "drain: missing rs"),
        ('{"id": 1, "op": "drain", "rs": "x", "force": 1}', 'drain: unknown argument "force"'),
        ('{"id": 1, "op": "weight", "rs": "x", "weight": 70000}', "weight: weight must be"),
        ('{"id": 1, "op": "weight", "rs": "x", "weight": true}', "weight: weight must be"),
        ('{"id": 1, "op": "timeouts", "tcp": -1}', "timeouts: tcp must be"),
        ('{"id": 1, "op": "drain", "rs": 5}', "drain: rs must be a string"),
        ('{"id": 1, "op": "vrrp", "events_after": "x"}', "vrrp: events_after must be a time"),
        ('{"id": 1, "op": "vrrp", "events_after": -1}', "vrrp: events_after must be a time"),
        ('{"id": 1, "op": "keepalived", "ask": 1}', "keepalived: ask must be true or false"),
        ("x" * 5000, "malformed request: longer than"),
    ],
)
def test_bad_requests_are_named(text: str, message: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_request(text)
    assert str(info.value).startswith(message)


def test_a_good_request() -> None:
    req = parse_request('{"id": "a7", "op": "restore", "rs": "k", "weight": null}')
    assert (req.id, req.op, req.args) == ("a7", "restore", {"rs": "k", "weight": None})


# -- the agent as a process -------------------------------------------------------------------


class AgentProcess:
    def __init__(self, tmp: Path, argv: list[str] | None = None) -> None:
        self.tmp = tmp
        env = dict(
            os.environ,
            LVSTOP_AUDIT_LOG=str(tmp / "audit.log"),
            LVSTOP_STATE_FILE=str(tmp / "drained.json"),
        )
        self.proc = subprocess.Popen(
            argv or [sys.executable, "-m", "lvstop", "agent", "--no-vrrp", "--interval", "0.2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp,
        )
        self.lines: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def read_until(self, pred: Any, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            raw = self.proc.stdout.readline()
            if not raw:
                break
            msg: dict[str, Any] = json.loads(raw)
            self.lines.append(msg)
            if pred(msg):
                return msg
        raise AssertionError(f"no {what}; saw {self.lines[-5:]}")

    def close(self) -> tuple[int, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        for raw in self.proc.stdout:
            self.lines.append(json.loads(raw))
        rc = self.proc.wait(timeout=60)
        assert self.proc.stderr is not None
        return rc, self.proc.stderr.read().decode()


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    a = AgentProcess(tmp_path)
    yield a
    if a.proc.poll() is None:
        a.proc.kill()
        a.proc.wait()


def answers(lines: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for msg in lines:
        if msg["type"] in ("result", "error") and msg.get("id") is not None:
            out.setdefault(msg["id"], []).append(msg)
    return out


def test_hello_then_snapshot(agent: AgentProcess) -> None:
    hello = agent.read_until(lambda m: True, "hello")
    assert hello["type"] == "hello" and hello["schema"] == "lvstop.agent/1"
    assert hello["host"] == os.uname().nodename and "ipvs" in hello["capabilities"]
    snap = agent.read_until(lambda m: m["type"] == "snapshot", "snapshot")
    assert set(snap["state"]) == set(SECTIONS)
    rc, err = agent.close()
    assert rc == 0 and err == ""


def test_bad_requests_get_one_error_each_and_nothing_is_written(agent: AgentProcess) -> None:
    agent.read_until(lambda m: m["type"] == "snapshot", "snapshot")
    agent.send("not json")
    agent.send('{"id": 1, "op": "reboot"}')
    agent.send('{"id": 2, "op": "drain"}')
    agent.send('{"id": 3, "op": "drain", "rs": "garbage"}')
    agent.send('{"id": 4, "op": "drain", "rs": "tcp:10.0.5.96:8888->10.0.5.91:8888"}')
    agent.send(
        '{"id": 5, "op": "weight", "rs": "tcp:10.0.5.96:8888->10.0.5.91:8888", "weight": -3}'
    )
    agent.send('{"id": 6, "op": "ping"}')
    agent.read_until(lambda m: m.get("id") == 6, "the ping's answer")
    rc, err = agent.close()
    assert rc == 0 and err == "", err
    got = answers(agent.lines)
    assert sorted(got) == [1, 2, 3, 4, 5, 6]
    assert all(len(v) == 1 for v in got.values()), got  # each id answered once
    assert 'unknown op "reboot"' in got[1][0]["error"]
    assert got[2][0]["error"] == "drain: missing rs"
    assert got[3][0]["type"] == "error" and "garbage" in got[3][0]["error"]
    assert got[4][0]["type"] == "error"  # no IPVS on this host: the kernel's reason
    assert "weight must be" in got[5][0]["error"]
    assert got[6][0]["type"] == "result" and got[6][0]["pong"] is True
    anonymous = [m for m in agent.lines if m["type"] == "error" and m["id"] is None]
    assert [m["error"][:26] for m in anonymous] == ["malformed request: not JSO"]
    assert not (agent.tmp / "drained.json").exists()
    assert not (agent.tmp / "drained.json.lock").exists()


def test_dropped_stdin_is_a_clean_exit(agent: AgentProcess) -> None:
    agent.read_until(lambda m: m["type"] == "hello", "hello")
    rc, err = agent.close()
    assert (rc, err) == (0, "")


def test_quiet_director_sends_nothing_but_ticks(agent: AgentProcess) -> None:
    """Nothing changes on this host's (absent) IPVS: over ten polls after the snapshot the
    agent sends (besides the pings' answers) at most the coarse host figures."""
    snap = agent.read_until(lambda m: m["type"] == "snapshot", "snapshot")
    assert agent.proc.stdout is not None
    sent = 0
    seq = snap["seq"]
    n = 0
    while seq < snap["seq"] + 10:
        n += 1
        agent.send(f'{{"id": {n}, "op": "ping"}}')
        while True:
            raw = agent.proc.stdout.readline()
            msg = json.loads(raw)
            if msg["type"] == "result" and msg["id"] == n:
                seq = msg["seq"]
                break
            sent += len(raw)
            assert msg["type"] in ("update", "tick"), msg
            if msg["type"] == "update":  # the host figures (every 10 s) at most
                assert set(msg["set"]) <= {"host"} and not msg["del"], msg
    assert sent < 300, sent


def test_a_failing_poll_is_one_error_line_and_the_agent_goes_on(tmp_path: Path) -> None:
    """A bug in a reader (here: the first two polls raise) is said in one line each; the
    snapshot follows once a poll succeeds, and EOF still ends the agent cleanly."""
    import argparse
    import io
    import threading

    from lvstop.agent import server

    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    args = parser.parse_args(
        ["--no-vrrp", "--interval", "0.1", "--state-file", str(tmp_path / "drained.json")]
    )
    read_fd, write_fd = os.pipe()
    out = io.BytesIO()
    agent = server.Agent(args, os.fdopen(read_fd, "rb"), out)
    calls = {"n": 0}
    real_collect = agent.collect

    def collect(now: float, urge: bool = False) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise KeyError("a reader's bug")
        return real_collect(now, urge)

    agent.collect = collect  # type: ignore[method-assign]
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(agent.run()))
    thread.start()
    deadline = time.monotonic() + 60
    while b'"snapshot"' not in out.getvalue():
        assert time.monotonic() < deadline, out.getvalue()
        time.sleep(0.05)
    os.close(write_fd)  # EOF
    thread.join(timeout=60)
    assert done == [0]
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [m["type"] for m in lines[:4]] == ["hello", "error", "error", "snapshot"]
    assert (
        lines[1]["error"].startswith("poll: an unexpected problem in lvstop (please report it): ")
        and "a reader's bug" in lines[1]["error"]
    )


def test_vrrp_snapshot_sends_only_the_events_not_seen() -> None:
    """The ``vrrp`` request's snapshot: the tracker's VRIDs every time, of its recent events
    only those after ``events_after`` (what the asker saw last)."""
    import types

    from lvstop.agent.server import Wire
    from lvstop.model.vrrp import Advert, CaptureStats

    wire = Wire(["eth0"])
    wire._capture = types.SimpleNamespace(stats=CaptureStats)
    for i in range(3):
        wire.tracker.feed(
            Advert(
                time=1000.0 + i,
                interface="eth0",
                family="inet",
                src="10.0.5.90",
                ttl=255,
                version=2,
                vrid=51,
                priority=100,
                interval_ms=1000,
                addresses=("10.0.5.96",),
            )
        )
    whole = wire.snapshot()
    kinds = [(e["kind"], e["time"]) for e in whole["events"]]
    assert kinds[0] == ("master", 1000.0) and len(kinds) == 2  # then silent: the adverts stopped
    later = wire.snapshot(1000.0)
    assert [e["kind"] for e in later["events"]] == ["silent"]
    assert [v["vrid"] for v in later["vrids"]] == [51]  # the VRIDs: every time
    assert wire.snapshot(max(e["time"] for e in whole["events"]))["events"] == []


def test_a_poll_where_only_the_services_counters_moved_sends_them(tmp_path: Path) -> None:
    """The agent reuses its last sections only when nothing moved: services whose counters
    alone moved (the same Service objects) still send their new stats."""
    import argparse
    import io

    from lvstop.agent import server
    from lvstop.sources.ipvs import CMD_GET_SERVICE, IpvsReader

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ipvs_record import Replayer
    from test_ipvs_memo import exchanges, with_counters

    parser = argparse.ArgumentParser()
    server.add_arguments(parser)
    args = parser.parse_args(["--no-vrrp", "--state-file", str(tmp_path / "drained.json")])
    agent = server.Agent(args, io.BytesIO(), io.BytesIO())
    recorded = exchanges()
    dump = next(ex for ex in recorded if ex["kind"] == "dump" and ex["cmd"] == CMD_GET_SERVICE)
    moved = dict(dump, replies=[with_counters(m, 1, tuple(range(7, 17))) for m in dump["replies"]])
    agent._reader = IpvsReader(
        Replayer(recorded + [moved if ex is dump else ex for ex in recorded])
    )
    sections = []
    for _ in range(2):
        state = empty_state()
        agent._read_ipvs(state)
        agent.state = state
        sections.append(state["service"])
    assert sections[0].keys() == sections[1].keys() and len(sections[1]) > 1
    for key, svc in sections[1].items():
        assert svc["stats"]["conns"] == 7 != sections[0][key]["stats"]["conns"]


def test_the_sections_hold_each_service_with_its_stats_and_each_real_server_on_its_own() -> None:
    from lvstop.agent import server
    from lvstop.sources.ipvs import IpvsReader

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ipvs_record import Replayer
    from test_ipvs_memo import exchanges

    snap = IpvsReader(Replayer(exchanges())).read()
    services, real_servers = server.ipvs_sections(snap)
    assert list(services) == list(snap.by_key()) and len(real_servers) > len(services) > 1
    for key, svc in snap.by_key().items():
        assert services[key]["stats"] == snap.stats_of(key).to_dict()
        assert "real_servers" not in services[key]
        for rs in svc.real_servers:
            assert real_servers[rs.key] == {**rs.to_dict(), "service": key}
