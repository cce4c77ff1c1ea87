"""Spoofed VRRP senders in the UML lab (issue 10, item 4): one host on the segment sends one
advert each from 5,000 source addresses (VRID 51, the lab's VIP, a wrong password, priority
50: keepalived ignores them). Before, the tracker's work grew as N³ (5,000 never finished) and
the dashboard did it on its UI loop. Now `lvstop vrrp` keeps up and says "too many senders",
the real master stays the master, and the dashboard's source feeds its tracker on a thread of
its own. tcpdump, capturing the same flood, is the oracle for what was sent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lvstop.lab import runtime
from tests.lab.test_vrrp_lab import D1, VIP1, replay, wait_master, watch  # noqa: F401

if TYPE_CHECKING:
    from lvstop.lab import LabHandle
    from tests.lab.test_vrrp_lab import Watch

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
N_SPOOFED = 5_000

SENDER = r"""
import socket, sys
sys.path.insert(0, sys.argv[1])
from lvstop.model.vrrp import Advert
from lvstop.sources.pcap import encode_advert
n, vip = int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
for i in range(n):
    src = "10.0.%d.%d" % (64 + (i >> 8), i & 255)  # inside the lab's bridge only
    s.sendto(encode_advert(Advert(time=0, interface=None, family="inet", src=src,
             dst="224.0.0.18", ttl=255, version=2, vrid=51, priority=50, interval_ms=1000,
             auth_type="simple", auth_data=b"spoofed", addresses=(vip,))), ("224.0.0.18", 0))
print(n)
"""


def spoofed(src: str) -> bool:
    return src.startswith("10.0.") and int(src.split(".")[2]) >= 64


def flood(lab: LabHandle) -> None:
    """Send the spoofed adverts from rs1 (a real server: not a VRRP router of the lab)."""
    out = lab.run("rs1", [sys.executable, "-c", SENDER, str(ROOT), str(N_SPOOFED), VIP1]).stdout
    assert out.strip() == str(N_SPOOFED)


def test_lvstop_vrrp_keeps_up_with_5000_spoofed_senders(
    lab: LabHandle,
    watch: Callable[..., Watch],  # noqa: F811 (fixture)
) -> None:
    w = watch("client")
    wait_master(w, lab, 51, D1)
    t0 = time.time()
    flood(lab)
    said = w.wait_event(lab, "too_many_senders", 51, timeout=60, after=t0 - 1)
    assert said["master"] == D1 and spoofed(said["sources"][0])

    # the real master's next advert, after the flood, is still taken as the master's
    def after_flood() -> bool:
        return any(
            r["type"] == "advert" and r["src"] == D1 and r["time"] > t0 + 2 and r["master"] == D1
            for r in w.records()
        )

    lab.wait_until(after_flood, timeout=60, what="d1's adverts after the flood, as master")
    records = w.stop()
    summary = w.summary(records, 51)
    assert summary["master"] == D1 and summary["too_many_senders"] is True
    assert not [e for e in w.events("failover") + w.events("preempt") if e["time"] >= t0 - 1], (
        w.brief()
    )
    kept = [r for r in summary["routers"] if spoofed(r["src"])]
    assert len(summary["routers"]) == 16
    capture = next(r for r in records if r["type"] == "capture")
    # tcpdump's capture of the same segment: every spoofed advert it saw, lvstop counted
    # (tracked or not), unless lvstop's own ring dropped some (then at most as many)
    assert w.pcap is not None
    sent = [r for r in replay(w.pcap) if r["type"] == "advert" and spoofed(r["src"])]
    # the sender sent all of them (flood); tcpdump itself may drop some on a busy host (4,925
    # of 5,000 once, two lab VMs and `yes` on two cores): lvstop is held to the sender's count
    assert 0 < len(sent) <= N_SPOOFED
    counted = sum(r["adverts"] for r in kept) + summary["untracked_adverts"]
    if capture["kernel_drops"] == 0:
        assert counted == N_SPOOFED, (counted, capture)
    else:
        assert 0 < counted <= N_SPOOFED, (counted, capture)


DASHBOARD_SOURCE = r"""
import asyncio, json, sys, threading, time
sys.path.insert(0, sys.argv[1])
from lvstop.tui.live_vrrp import LiveVrrp

async def main() -> None:
    source = LiveVrrp(["eth0"])
    await source.start()
    loop_thread = threading.get_ident()
    lag = 0.0
    deadline = time.monotonic() + float(sys.argv[2])
    ready = False
    while time.monotonic() < deadline:
        before = time.monotonic()
        await asyncio.sleep(0.05)
        lag = max(lag, time.monotonic() - before - 0.05)
        snap = await source.snapshot()
        v = snap.vrid(51)
        if not ready and v is not None and v.master is not None:
            ready = True
            print("ready", flush=True)
        if v is not None and v.too_many_senders and v.last_advert and \
                any(r.src == "10.0.5.90" and r.last_seen > snap.time - 1.5 for r in v.routers):
            break
    await source.close()
    print(json.dumps({"feeder": source.feeder, "loop": loop_thread, "lag": lag,
                      "snapshot": snap.to_dict()}), flush=True)

asyncio.run(main())
"""


def test_dashboard_source_tracks_the_flood_off_the_loop(lab: LabHandle, tmp_path: Path) -> None:
    out = tmp_path / "source.out"
    with out.open("wb") as f:
        proc = subprocess.Popen(
            runtime.ns_argv("client", [sys.executable, "-c", DASHBOARD_SOURCE, str(ROOT), "120"]),
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        lab.wait_until(
            lambda: b"ready" in out.read_bytes() or proc.poll() is not None,
            timeout=30,
            what="the dashboard's VRRP source to see VRID 51",
        )
        assert proc.poll() is None, out.read_text()
        flood(lab)
        assert proc.wait(timeout=150) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(out.read_text().splitlines()[-1])
    assert result["feeder"] is not None and result["feeder"] != result["loop"]
    vrid51 = next(v for v in result["snapshot"]["vrids"] if v["vrid"] == 51)
    assert vrid51["too_many_senders"] and vrid51["master"] == D1, vrid51
    assert vrid51["untracked_adverts"] > 0
    print(f"largest loop lag during the flood: {result['lag'] * 1000:.0f} ms")
