"""Partial reads (the dashboard's poll): the real servers of the services in focus every poll,
each other service's at least every ``sweep_every`` seconds, spread over the polls; what a
partial read carries over is what the last read of that service gave. Replayed on the host
from the lab's recordings (tests/lab/test_ipvs_partial_lab.py runs the same against the
kernel with ipvsadm as the oracle)."""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ipvs_record import Replayer

from lvstop.sources.ipvs import CMD_GET_DEST, IpvsReader, RealServerSweep

DATA = Path(__file__).resolve().parents[1] / "data" / "ipvs"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exchanges() -> list[dict[str, Any]]:
    doc = json.loads((DATA / "table-seed1.json").read_text())
    recorded: list[dict[str, Any]] = doc["exchanges"]
    return recorded


def test_a_partial_read_reads_the_focus_and_carries_the_rest() -> None:
    clock = Clock()
    reader = IpvsReader(Replayer(exchanges()), clock=clock, sweep_every=10.0)
    full = reader.read()
    assert full.real_servers_read is None
    keys = [svc.key for svc in full.services]
    assert len(keys) >= 4
    focus = {keys[1], keys[2]}
    clock.now += 1
    partial = reader.read(focus)
    assert partial.services == full.services  # nothing changed in the kernel
    assert partial.real_servers_read is not None
    assert focus <= partial.real_servers_read
    assert len(partial.real_servers_read) < len(keys)
    for key in keys:
        assert partial.real_servers_fresh(key) == (key in partial.real_servers_read)
        assert full.real_servers_fresh(key)
    # carried real servers are the very objects the last read of that service gave
    for svc in partial.services:
        if svc.key not in partial.real_servers_read:
            before = full.service(svc.key)
            assert before is not None
            assert svc.real_servers is before.real_servers


def removed_later(exs: list[dict[str, Any]], victim: int) -> tuple[list[dict[str, Any]], str]:
    """The recording with a second answer to service ``victim``'s real-server dump: its first
    real server gone. Returns the exchanges and that dump's request (hex)."""
    exs = copy.deepcopy(exs)
    dumps = [
        ex
        for ex in exs
        if ex["kind"] == "dump" and ex["cmd"] == CMD_GET_DEST and len(ex["replies"]) >= 2
    ]
    ex = dumps[victim]
    later = dict(ex, replies=ex["replies"][1:])
    exs.insert(exs.index(ex) + 1, later)
    return exs, ex["attrs"]


def test_a_change_outside_the_focus_is_seen_within_the_sweep_period() -> None:
    exs, _attrs = removed_later(exchanges(), 0)
    clock = Clock()
    reader = IpvsReader(Replayer(exs), clock=clock, sweep_every=10.0)
    first = reader.read()  # full: every real server read once (the recorded first answer)
    sizes = {svc.key: len(svc.real_servers) for svc in first.services}
    seen_at = None
    for second in range(1, 12):
        clock.now += 1.0
        snap = reader.read(focus=set())  # nothing on screen: only the sweep reads
        changed = [svc.key for svc in snap.services if len(svc.real_servers) != sizes[svc.key]]
        if changed:
            seen_at = second
            assert snap.real_servers_read is not None
            assert set(changed) <= snap.real_servers_read
            break
    assert seen_at is not None and seen_at <= 10


def test_the_focus_is_read_every_poll() -> None:
    exs = exchanges()
    clock = Clock()
    reader = IpvsReader(Replayer(exs), clock=clock, sweep_every=10.0)
    keys = [svc.key for svc in reader.read().services]
    for second in range(1, 25):
        clock.now += 1.0
        focus = {keys[second % len(keys)]}
        snap = reader.read(focus)
        assert snap.real_servers_read is not None and focus <= snap.real_servers_read


@settings(max_examples=60, deadline=None)
@given(
    services=st.integers(1, 3000),
    focus_size=st.integers(0, 40),
    every=st.sampled_from([5.0, 10.0, 30.0]),
    interval=st.sampled_from([0.5, 1.0, 2.0]),
    polls=st.integers(2, 80),
)
def test_the_sweep_reads_every_service_in_time_and_spreads_the_reads(
    services: int, focus_size: int, every: float, interval: float, polls: int
) -> None:
    sweep = RealServerSweep(every)
    keys = [f"tcp:10.0.{i // 250}.{i % 250}:80" for i in range(services)]
    last: dict[str, float] = {}
    now = 0.0
    for poll in range(polls):
        focus = set(keys[poll % services : poll % services + focus_size])
        chosen = sweep.choose(keys, focus, now)
        assert focus <= chosen
        if poll == 0:
            assert chosen == set(keys)  # first seen: all read
        else:
            # spread: about services x interval / every per poll, plus the focus
            assert len(chosen - focus) <= math.ceil(services * interval / every) + 1
        sweep.was_read(chosen, now)
        for key in chosen:
            last[key] = now
        # nobody waits longer than the period (plus the poll that notices)
        assert all(now - last[key] <= every + interval for key in keys)
        now += interval


def test_an_idle_table_gives_the_same_objects_again_and_what_a_cold_read_gives() -> None:
    """The kernel folds its counters every 2 s: at 1 s polls every other answer is byte for
    byte the previous one. Then the services (and their real-server tuples) are the very
    objects of the previous read, and equal to a fresh cold read's."""
    clock = Clock()
    reader = IpvsReader(Replayer(exchanges()), clock=clock)
    first = reader.read()
    clock.now += 1
    second = reader.read(focus=set())
    clock.now += 11  # every service's turn has come: all real servers read again
    third = reader.read(focus=set())
    assert third.real_servers_read is not None and len(third.real_servers_read) == len(
        third.services
    )
    for a, b, c in zip(first.services, second.services, third.services, strict=True):
        assert a is b is c
    cold = IpvsReader(Replayer(exchanges()), memo=False).read()
    assert cold.services == third.services


@settings(max_examples=80, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=20, max_size=400),
    polls_per_turn=st.integers(2, 12),
    focus_size=st.integers(0, 10),
    every=st.sampled_from([2.0, 5.0]),
    interval=st.sampled_from([0.5, 1.0]),
)
def test_a_poll_reads_at_most_its_budget_in_turn_and_nobody_waits_past_a_whole_turn(
    sizes: list[int], polls_per_turn: int, focus_size: int, every: float, interval: float
) -> None:
    """A table larger than the budget covers in ``every``: each poll reads about ``budget``
    real servers in turn (the last service taken may pass it), the services longest due
    first, so a whole turn takes ``total / budget`` polls and nobody is left behind."""
    keys = [f"tcp:10.0.{i // 250}.{i % 250}:80" for i in range(len(sizes))]
    size = dict(zip(keys, sizes, strict=True))
    total = sum(max(1, n) for n in sizes)
    budget = max(1, total // polls_per_turn)
    sweep = RealServerSweep(every, budget)
    last: dict[str, float] = {}
    now = 0.0
    for poll in range(4 * polls_per_turn + 10):
        start = poll % len(keys)
        focus = set(keys[start : start + focus_size])
        chosen = sweep.choose(keys, focus, now, size.__getitem__)
        assert focus <= chosen
        if poll == 0:
            assert chosen == set(keys)  # first seen: all read, whatever the budget
        else:
            in_turn = sum(max(1, size[key]) for key in chosen - focus)
            assert in_turn < budget + max(1, *sizes)
        sweep.was_read(chosen, now)
        for key in chosen:
            last[key] = now
        # due after ``every``, then read within a whole turn of polls (plus the one that
        # notices)
        limit = every + interval * (math.ceil(total / budget) + 1)
        assert all(now - last[key] <= limit for key in keys)
        now += interval
