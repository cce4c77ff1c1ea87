#!/usr/bin/env python3
"""VRRP tracker cost per advert as distinct senders grow (issue 10, item 4: spoofed senders).

    .venv/bin/python -m bench.bench_vrrp_tracker               # 10, 1,000 and 100,000 senders
    .venv/bin/python -m bench.bench_vrrp_tracker --before REV  # also the tracker of git REV

One stream shape per sender count N: 200,000 adverts at 10,000 per second of capture time, the
real master of VRID 51 (10.0.5.90, priority 100) advertising once a second, every other advert
from one of N spoofed source addresses taken in turn (priority 100 too: at 10 senders they
repeat and form a split brain, at 100,000 each sends twice). Every advert is a fresh object, as
the live capture hands them over, built before the clock starts; the tracker makes a snapshot
once per second of capture time, as the dashboard asks for one. Rounds alternate the sender
counts (default 5), medians are compared: the cost per advert at 1,000 and 100,000 senders
over the cost at 10, target flat within 2× (ratio <= 2.0). Pure Python on the host: no kernel.

``--before REV`` times the tracker of that git revision at 10, 100 and 300 senders (it cost
O(N³) in the senders; larger counts take minutes), for the record in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from lvstop.model.vrrp import Advert  # noqa: E402
from lvstop.track.vrrp import VrrpTracker  # noqa: E402

N_ADVERTS = 200_000
RATE = 10_000.0  # adverts per second of capture time
SENDERS = (10, 1_000, 100_000)
TARGET = 2.0
VIP = ("10.0.5.96",)
T0 = 1_700_000_000.0


def _advert(src: str, t: float) -> Advert:
    return Advert(
        time=t,
        interface="eth0",
        family="inet",
        src=src,
        ttl=255,
        version=2,
        vrid=51,
        priority=100,
        interval_ms=1000,
        auth_type="simple",
        auth_data=b"secret\0\0",
        addresses=VIP,
        dst="224.0.0.18",
    )


def stream(senders: int, n: int = N_ADVERTS) -> list[Advert]:
    """n adverts: the real master each second, spoofed senders in turn otherwise."""
    master = _advert("10.0.5.90", T0)
    spoofed = [
        _advert(f"10.{64 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}", T0) for i in range(senders)
    ]
    out: list[Advert] = []
    per_second = int(RATE)
    k = 0
    for i in range(n):
        t = T0 + i / RATE
        if i % per_second == 0:
            out.append(master.at(t))
        else:
            out.append(spoofed[k % senders].at(t))
            k += 1
    return out


def run(adverts: list[Advert], tracker: Any) -> tuple[float, dict[str, int]]:
    """Seconds per advert (feeding plus one snapshot per second of capture time), and the
    tracker's sizes at the end."""
    per_second = int(RATE)
    start = time.perf_counter()
    for i, advert in enumerate(adverts):
        tracker.feed(advert)
        if i % per_second == per_second - 1:
            tracker.snapshot(advert.time)
    elapsed = time.perf_counter() - start
    snap = tracker.snapshot(adverts[-1].time)
    sizes = {
        "routers": sum(len(v.routers) for v in snap.vrids),
        "untracked": snap.untracked_adverts if hasattr(snap, "untracked_adverts") else 0,
        "heap": len(getattr(tracker, "_heap", ())),
        "events": len(snap.events),
    }
    return elapsed / len(adverts), sizes


def _tracker_of(rev: str) -> Any:
    """The VrrpTracker class of git revision ``rev`` (its module loaded from `git show`)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:lvstop/track/vrrp.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location("vrrp_before", f.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Path(f.name).unlink()
    return module.VrrpTracker


def before(rev: str) -> None:
    old = _tracker_of(rev)
    print(f"tracker of {rev}: one advert from each of N senders (then the master), per advert")
    for senders in (10, 100, 300):
        adverts = stream(senders, n=2 * senders + 2)
        cost, _sizes = run(adverts, old(per_interface=True))
        new_cost, _ = run(adverts, VrrpTracker(per_interface=True))
        print(
            f"  {senders:>7,} senders: {cost * 1e6:12,.1f} µs per advert "
            f"(now {new_cost * 1e6:,.1f} µs)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    parser.add_argument("--adverts", type=int, default=N_ADVERTS, help="adverts per stream")
    parser.add_argument("--before", metavar="REV", help="also time the tracker of git REV")
    args = parser.parse_args()
    streams = {n: stream(n, args.adverts) for n in SENDERS}
    costs: dict[int, list[float]] = {n: [] for n in SENDERS}
    sizes: dict[int, dict[str, int]] = {}
    for _ in range(args.rounds):
        for n in SENDERS:
            cost, sizes[n] = run(streams[n], VrrpTracker(per_interface=True))
            costs[n].append(cost)
    base = statistics.median(costs[SENDERS[0]])
    print(
        f"VRRP tracker, {args.adverts:,} adverts at {RATE:,.0f}/s of capture time, one VRID "
        f"under spoofed senders; {args.rounds} interleaved rounds, medians"
    )
    worst = 0.0
    for n in SENDERS:
        median = statistics.median(costs[n])
        ratio = median / base
        worst = max(worst, ratio)
        s = sizes[n]
        print(
            f"  {n:>7,} senders: {median * 1e6:6.2f} µs per advert  ratio {ratio:4.2f}  "
            f"(routers kept {s['routers']}, untracked adverts {s['untracked']:,}, "
            f"timer heap {s['heap']}, events kept {s['events']})"
        )
    verdict = "PASS" if worst <= TARGET else "MISS"
    print(
        f"  target: cost per advert flat within {TARGET:g}× from {SENDERS[0]} to "
        f"{SENDERS[-1]:,} senders: worst ratio {worst:.2f} {verdict}"
    )
    if args.before:
        before(args.before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
