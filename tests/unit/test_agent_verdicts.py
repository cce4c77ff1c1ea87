"""The agent's keepalived verdicts (the ``keepalived`` request of a dashboard over the agent):
the lab's own keepalived.conf for d1 against IPVS tables recorded in the lab. When it asks
keepalived for its dumps: on the key, or when the kernel table changed and the last round is
a minute old, never on its own otherwise, never when it may not signal."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

from lvstop.agent.server import KEEPALIVED_EVERY, Keepalived
from lvstop.lab.topology import default_topology, keepalived_config
from lvstop.model.ipvs import IpvsSnapshot
from lvstop.sources.keepalived_conf import parse_text
from lvstop.tui.replay import load_ipvs_frames

DATA = Path(__file__).resolve().parents[1] / "data" / "ui"
RS1 = "tcp:10.0.5.96:8888->10.0.5.91:8888"
NOW = 1_790_000_000.0


def steady() -> IpvsSnapshot:
    return load_ipvs_frames(DATA / "steady.ipvs.jsonl")[-1]


def with_weight(snap: IpvsSnapshot, key: str, weight: int) -> IpvsSnapshot:
    services = tuple(
        dataclasses.replace(
            svc,
            real_servers=tuple(
                dataclasses.replace(rs, weight=weight) if rs.key == key else rs
                for rs in svc.real_servers
            ),
        )
        for svc in snap.services
    )
    return dataclasses.replace(snap, services=services)


def keepalived(signals: bool, snap: IpvsSnapshot) -> Keepalived:
    k = Keepalived(signals, None if signals else "not root")
    k._config = parse_text(keepalived_config(default_topology(), "d1"))
    k._procs = (types.SimpleNamespace(role="parent", pid=4242, ppid=1),)
    k._ipvs = snap
    return k


def test_config_times_kernel_without_a_dump() -> None:
    k = keepalived(True, steady())
    out = k.verdicts(False, NOW)
    assert out["running"] and out["asked"] is None and out["dumped_at"] is None
    assert out["verdicts"][RS1][0] == "ok", out["verdicts"]
    assert set(out["verdicts"]) >= {RS1, "tcp:10.0.5.96:8888->10.0.5.92:8888"}
    assert not k._urge_dump  # nothing changed, nobody asked: keepalived is left alone


def test_the_key_asks_and_a_change_asks_after_a_minute() -> None:
    snap = steady()
    k = keepalived(True, snap)
    k.verdicts(False, NOW)
    out = k.verdicts(True, NOW + 1)
    assert out["asked"] == "asked with the key" and k._urge_dump
    k._urge_dump = False  # the round went (read() clears it when it starts one)
    k._ipvs = with_weight(snap, RS1, 0)  # rs1 drained by hand
    out = k.verdicts(False, NOW + 2)  # the change seen: one more refresh to settle
    assert out["asked"] is None and out["pending"]
    out = k.verdicts(False, NOW + 3)  # settled, but the last round is 2 s old
    assert out["asked"] is None and out["pending"] and not k._urge_dump
    out = k.verdicts(False, NOW + 1 + KEEPALIVED_EVERY)
    assert out["asked"] == "the kernel table changed" and k._urge_dump
    assert not out["pending"]
    out = k.verdicts(False, NOW + 2 + KEEPALIVED_EVERY)  # steady again: not asked again
    assert out["asked"] is None


def test_never_asked_where_it_may_not_signal() -> None:
    k = keepalived(False, steady())
    out = k.verdicts(True, NOW)
    assert out["no_signals"] == "not root" and out["asked"] is None and not k._urge_dump
    assert out["verdicts"][RS1][0] == "ok"


def test_keepalived_not_running_gives_no_verdicts() -> None:
    k = keepalived(True, steady())
    k._procs = ()
    out = k.verdicts(True, NOW)
    assert out == {
        "running": False,
        "no_signals": None,
        "dumped_at": None,
        "pending": False,
        "asked": None,
        "problems": [],
        "verdicts": {},
    }
