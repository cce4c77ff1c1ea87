"""The tracker under many senders (issue 10, item 4): bounded routers, VRIDs and timers, the
``too_many_senders`` state, work per advert bounded by the routers kept (counted, not timed:
the timing is bench/bench_vrrp_tracker.py), and random multi-sender streams (hypothesis)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lvstop.track.vrrp as track
from lvstop.model.vrrp import Advert, VrrpEvent, VrrpSnapshot
from lvstop.track.vrrp import MAX_PENDING, SENDERS_HOLD, VRID_STALE, VrrpTracker

VIP = ("10.0.5.96",)
#: adverts with the time each is fed
Stream = list[tuple[Advert, float]]


def adv(
    t: float,
    src: str,
    prio: int = 100,
    *,
    vrid: int = 51,
    interval: int = 1000,
    version: int = 2,
    addrs: tuple[str, ...] = VIP,
    iface: str | None = "eth0",
    valid: bool = True,
) -> Advert:
    return Advert(
        time=t,
        interface=iface,
        family="inet",
        src=src,
        ttl=255,
        version=version,
        vrid=vrid,
        priority=prio,
        interval_ms=interval,
        auth_type="simple" if version == 2 else None,
        addresses=addrs,
        valid=valid,
        error=None if valid else "ttl",
    )


def spoofed(i: int) -> str:
    return f"10.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"


def kinds(events: list[VrrpEvent]) -> Counter[str]:
    return Counter(e.kind for e in events)


def test_one_advert_each_from_thousands_of_senders_is_bounded_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the attack: one advert each from N sources (was O(N³): 1,000 took 100 s).
    # Work is counted as routers visited by the split-brain scan and the conflict check.
    visits = Counter[str]()
    active, recent = track._active, track._recent

    def counted_active(v: Any, now: float) -> Any:
        visits["active"] += len(v.routers)
        return active(v, now)

    def counted_recent(v: Any, now: float) -> Any:
        visits["recent"] += len(v.routers)
        return recent(v, now)

    monkeypatch.setattr(track, "_active", counted_active)
    monkeypatch.setattr(track, "_recent", counted_recent)
    tracker = VrrpTracker()
    events = tracker.feed(adv(0.0, "10.0.5.90"))
    n = 5_000
    for i in range(n):
        events += tracker.feed(adv(0.001 + i * 1e-4, spoofed(i)))
    events += tracker.feed(adv(1.0, "10.0.5.90"))
    snap = tracker.snapshot()
    (v,) = snap.vrids
    assert len(v.routers) == track.MAX_ROUTERS_PER_VRID
    assert v.master == "10.0.5.90"  # the master is kept, its adverts still count
    assert v.routers[0].adverts == 2 or any(
        r.src == "10.0.5.90" and r.adverts == 2 for r in v.routers
    )
    assert v.untracked_adverts == n - (track.MAX_ROUTERS_PER_VRID - 1)
    assert snap.untracked_adverts == v.untracked_adverts and v.too_many_senders
    assert snap.too_many_senders and not snap.too_many_vrids
    assert kinds(events)["too_many_senders"] == 1  # said once per episode
    (said,) = [e for e in events if e.kind == "too_many_senders"]
    assert said.vrid == 51 and said.sources == (spoofed(15),)
    # bounded work: at most the kept routers per advert, whatever the number of senders
    per_advert = track.MAX_ROUTERS_PER_VRID
    assert visits["active"] <= per_advert * (n + 2), visits
    assert visits["recent"] <= per_advert * per_advert, visits  # only new routers' conflicts
    assert len(tracker._heap) <= 3, tracker._heap


def test_too_many_senders_clears_after_the_hold_and_says_it_again_next_time() -> None:
    tracker = VrrpTracker(max_routers=2)
    events = tracker.feed(adv(0.0, "10.0.5.90"))
    events += tracker.feed(adv(0.1, "10.0.5.91", 50))
    events += tracker.feed(adv(0.2, "10.0.5.92", 50))  # one too many
    events += tracker.feed(adv(0.3, "10.0.5.93", 50))
    assert kinds(events)["too_many_senders"] == 1
    assert tracker.snapshot(0.3 + SENDERS_HOLD).vrids[0].too_many_senders
    later = 0.3 + SENDERS_HOLD + 0.5
    # the master kept advertising; the flood stopped: the badge goes
    for k in range(1, int(later) + 1):
        events += tracker.feed(adv(float(k), "10.0.5.90"))
    state = tracker.snapshot(later).vrids[0]
    assert not state.too_many_senders and state.untracked_adverts == 2
    assert state.master == "10.0.5.90"
    # a sender seen 2 × its master-down interval ago (10.0.5.91) makes room for a new one
    events += tracker.feed(adv(later, "10.0.5.94", 50))
    srcs = {r.src for r in tracker.snapshot(later).vrids[0].routers}
    assert srcs == {"10.0.5.90", "10.0.5.94"}
    assert kinds(events)["too_many_senders"] == 1
    events += tracker.feed(adv(later + 0.1, "10.0.5.95", 50))  # full again, all recent
    assert kinds(events)["too_many_senders"] == 2


def test_a_silent_master_is_never_forgotten() -> None:
    tracker = VrrpTracker(max_routers=2)
    tracker.feed(adv(0.0, "10.0.5.90"))
    tracker.feed(adv(0.5, "10.0.5.91", 200))  # preempts
    tracker.feed(adv(1.5, "10.0.5.91", 200))
    # long after: both stale; .91 went silent (the previous master, named by the SILENT
    # badge and by the failover to come): .90 makes room, twice .91 stays
    assert [e.kind for e in tracker.tick(100.0)] == ["silent"]
    tracker.feed(adv(100.0, "10.0.5.92", 50))
    tracker.feed(adv(100.1, "10.0.5.93", 50))
    state = tracker.snapshot(100.1).vrids[0]
    assert {r.src for r in state.routers} == {"10.0.5.91", "10.0.5.92"}
    assert state.untracked_adverts == 1 and state.master == "10.0.5.92"
    events = tracker.feed(adv(100.2, "10.0.5.91", 200))
    assert [(e.kind, e.previous) for e in events] == [("preempt", "10.0.5.92")]


def test_too_many_vrids_is_one_event_without_a_vrid_and_a_snapshot_flag() -> None:
    tracker = VrrpTracker(max_vrids=3)
    events: list[VrrpEvent] = []
    for vrid in range(1, 7):
        events += tracker.feed(adv(vrid * 0.01, "10.0.5.90", vrid=vrid))
    snap = tracker.snapshot()
    assert [v.vrid for v in snap.vrids] == [1, 2, 3]
    assert snap.too_many_vrids and snap.too_many_senders and snap.untracked_adverts == 3
    (said,) = [e for e in events if e.kind == "too_many_senders"]
    assert said.vrid is None and "more than 3 VRIDs" in said.detail
    # a VRID not heard for VRID_STALE seconds makes room
    for vrid in (1, 2):
        tracker.feed(adv(VRID_STALE, "10.0.5.90", vrid=vrid))
    tracker.feed(adv(VRID_STALE + 1.0, "10.0.5.90", vrid=9))
    assert [v.vrid for v in tracker.snapshot().vrids] == [1, 2, 9]
    assert not tracker.snapshot(VRID_STALE + 1.0 + SENDERS_HOLD + 1).too_many_vrids


def test_timer_entries_per_vrid_are_bounded_under_a_repeating_flood() -> None:
    # 16 senders repeating fast enough to stay in split brain: before, every advert pushed a
    # split-brain check for its master-down interval (up to 766 s with v2 intervals of 255 s)
    tracker = VrrpTracker()
    events: list[VrrpEvent] = []
    t = 0.0
    for _k in range(400):
        for i in range(16):
            t += 0.001
            events += tracker.feed(adv(t, spoofed(i), interval=255_000))
    assert kinds(events)["split_brain"] == 1
    assert len(tracker._heap) <= 2 * MAX_PENDING + 1
    # the merged checks still end the split brain, at the right time
    events += tracker.feed(adv(t + 1.0, spoofed(0), interval=255_000))
    last = t + 1.0
    for second in range(1, 800):  # as the dashboard ticks: once a second
        events += tracker.tick(last + second)
    cleared = [e for e in events if e.kind == "split_brain_cleared"]
    assert len(cleared) == 1
    mdi = track.master_down_ms(2, 255_000, 100) / 1000
    # over when the last of the others stopped counting (spoofed(0) advertised 1 s later)
    assert cleared[0].time == pytest.approx(t + mdi, abs=1e-3)
    assert cleared[0].detail.endswith(f"{spoofed(0)} is the only master")


# --- random multi-sender streams ---------------------------------------------------------

SOURCES = [f"10.0.5.{90 + i}" for i in range(8)]


@st.composite
def streams(draw: st.DrawFn, span: float = 1e9) -> list[tuple[Advert, float]]:
    """Time-ordered adverts of up to 8 senders on two VRIDs: priorities (0 = resign),
    intervals, versions and VIP sets changing now and then, bogus packets among them."""
    protos: dict[tuple[str, int], Advert] = {}
    out: list[tuple[Advert, float]] = []
    t = 1000.0
    for _ in range(draw(st.integers(1, 80))):
        t += draw(st.sampled_from([0.0, 0.001, 0.3, 1.0, 1.0, 2.5, 4.0]))
        if t - 1000.0 > span:
            break
        src = draw(st.sampled_from(SOURCES))
        vrid = draw(st.sampled_from([51, 52]))
        if (src, vrid) not in protos or draw(st.integers(0, 9)) == 0:
            protos[(src, vrid)] = adv(
                t,
                src,
                draw(st.sampled_from([0, 50, 100, 150, 255])),
                vrid=vrid,
                interval=draw(st.sampled_from([1000, 2000] if span < 1e9 else [300, 1000])),
                version=draw(st.sampled_from([2, 3])),
                addrs=draw(st.sampled_from([VIP, ("10.0.5.97",), (*VIP, "10.0.5.97")])),
            )
        a = protos[(src, vrid)]
        if draw(st.integers(0, 29)) == 0:
            a = adv(t, src, vrid=vrid, valid=False)
        out.append((a, t))
    return out


def replay(
    stream: Sequence[tuple[Advert | None, float]],
    tracker: VrrpTracker,
    *,
    fresh: bool,
    local: bool = False,
) -> tuple[list[VrrpEvent], VrrpSnapshot]:
    """Feed the stream (None: a tick instead of an advert), ticking after every fifth."""
    events: list[VrrpEvent] = []
    if local:
        events += tracker.set_local_addresses(VIP, stream[0][1])
    for i, (a, t) in enumerate(stream):
        # fresh: a new object per packet (the live capture); else the same decoded object
        # again with its time (the pcap reader)
        if a is None:
            events += tracker.tick(t)
        else:
            events += tracker.feed(a.at(t)) if fresh else tracker.feed(a, t)
        if i % 5 == 0:
            events += tracker.tick(t + 0.5)
    end = stream[-1][1] + 60.0
    events += tracker.tick(end)
    return events, tracker.snapshot(end)


def check_invariants(tracker: VrrpTracker, events: list[VrrpEvent], snap: VrrpSnapshot) -> None:
    assert len(snap.vrids) <= tracker.max_vrids
    for v in snap.vrids:
        assert len(v.routers) <= tracker.max_routers
        assert len({r.src for r in v.routers}) == len(v.routers)
        if v.master is not None:
            assert v.master in {r.src for r in v.routers}
        # the snapshot is a minute after the last advert: past the hold
        assert not v.too_many_senders
        said = [
            e
            for e in events
            if e.kind == "too_many_senders" and e.vrid == v.vrid and e.interface == v.interface
        ]
        assert bool(said) == (v.untracked_adverts > 0)
        # split brain and its end alternate, starting with split brain
        splits = [
            e.kind
            for e in events
            if e.vrid == v.vrid and e.interface == v.interface and e.kind.startswith("split_brain")
        ]
        assert splits == ["split_brain", "split_brain_cleared"] * (len(splits) // 2) + (
            ["split_brain"] if len(splits) % 2 else []
        )
        assert v.split_brain == (len(splits) % 2 == 1)
    for vs in tracker._vrids.values():
        assert vs.split_pending <= MAX_PENDING and vs.mismatch_pending <= MAX_PENDING
    assert snap.untracked_adverts == sum(v.untracked_adverts for v in snap.vrids)
    assert not snap.too_many_senders


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(stream=streams(), local=st.booleans(), max_routers=st.integers(1, 4))
def test_random_streams_keep_the_invariants(stream: Stream, local: bool, max_routers: int) -> None:
    if not stream:
        return
    tracker = VrrpTracker(max_routers=max_routers)
    events, snap = replay(stream, tracker, fresh=True, local=local)
    check_invariants(tracker, events, snap)
    tracked = sum(r.adverts for v in snap.vrids for r in v.routers)
    assert tracked + snap.untracked_adverts + snap.bogus_total <= snap.adverts_total


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(stream=streams(), local=st.booleans())
def test_the_same_advert_object_again_is_the_same_as_a_fresh_one(
    stream: Stream, local: bool
) -> None:
    # one update path: the pcap reader's repeated objects and the capture's fresh ones agree
    if not stream:
        return
    a = replay(stream, VrrpTracker(), fresh=True, local=local)
    b = replay(stream, VrrpTracker(), fresh=False, local=local)
    assert [e.to_dict() for e in a[0]] == [e.to_dict() for e in b[0]]
    assert a[1].to_dict() == b[1].to_dict()


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(stream=streams(span=5.9), local=st.booleans(), max_routers=st.integers(1, 3))
def test_senders_beyond_the_bound_are_as_if_never_heard(
    stream: Stream, local: bool, max_routers: int
) -> None:
    # within 5.9 s no router is stale (2 master-down intervals of 1 s adverts ≥ 6 s), so the
    # routers kept are the first max_routers per VRID; an advert of another sender is no more
    # than a tick at its time (and a count)
    if not stream:
        return
    first: dict[tuple[int, str | None], list[str]] = {}
    kept: list[tuple[Advert | None, float]] = []
    for a, t in stream:
        if not a.valid:
            kept.append((a, t))
            continue
        srcs = first.setdefault((a.vrid or 0, a.interface), [])
        if a.src not in srcs and len(srcs) < max_routers:
            srcs.append(a.src)
        kept.append((a if a.src in srcs else None, t))
    bounded = replay(stream, VrrpTracker(max_routers=max_routers), fresh=True, local=local)
    alone = replay(kept, VrrpTracker(max_routers=max_routers), fresh=True, local=local)
    assert [e.to_dict() for e in bounded[0] if e.kind != "too_many_senders"] == [
        e.to_dict() for e in alone[0]
    ]
    strip = {"too_many_senders", "untracked_adverts"}
    assert [{k: x for k, x in v.to_dict().items() if k not in strip} for v in bounded[1].vrids] == [
        {k: x for k, x in v.to_dict().items() if k not in strip} for v in alone[1].vrids
    ]


# --- `lvstop vrrp` -----------------------------------------------------------------------


def test_lvstop_vrrp_says_too_many_senders(tmp_path: Path) -> None:
    # a capture of 2,000 spoofed senders (raw IP records, as encode_advert rebuilds them)
    # plus the master: the text summary and the JSON lines say it; it finishes at once
    import json
    import subprocess
    import sys

    from lvstop.sources.pcap import PcapWriter, encode_advert

    path = tmp_path / "flood.pcap"
    with PcapWriter(path) as w:
        w.write(0.0, encode_advert(adv(0.0, "10.0.5.90", iface=None)))
        for i in range(2_000):
            w.write(0.01 + i * 1e-4, encode_advert(adv(0.0, spoofed(i), 50, iface=None)))
        w.write(1.0, encode_advert(adv(1.0, "10.0.5.90", iface=None)))
    text = subprocess.run(
        [sys.executable, "-m", "lvstop", "vrrp", "--pcap", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert text.stderr == ""
    untracked = 2_000 - (track.MAX_ROUTERS_PER_VRID - 1)
    assert "*** TOO_MANY_SENDERS: VRID 51: too many senders: more than 16 routers" in text.stdout
    assert (
        f"  too many senders: {untracked} adverts from senders beyond the 16 routers "
        "kept (counted, not tracked) (ongoing)"
    ) in text.stdout
    assert "VRID 51 (inet): master 10.0.5.90 (priority 100)" in text.stdout
    out = subprocess.run(
        [sys.executable, "-m", "lvstop", "vrrp", "--json", "--pcap", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    records = [json.loads(line) for line in out.splitlines()]
    (event,) = [r for r in records if r["type"] == "event" and r["kind"] == "too_many_senders"]
    assert event["vrid"] == 51 and event["sources"] == [spoofed(15)]
    (summary,) = [r for r in records if r["type"] == "summary"]
    assert summary["too_many_senders"] is True and summary["untracked_adverts"] == untracked
    assert summary["master"] == "10.0.5.90" and len(summary["routers"]) == 16
