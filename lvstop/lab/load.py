"""Steady client HTTP load through the lab's VIPs (runs in the client's netns).

``python -m lvstop.lab.load --vip 10.0.5.96 --count 10`` fetches each VIP ``count`` times and
prints a JSON tally of which real server answered; ``--rate R --duration S --stats FILE`` runs
a bounded steady load, a new TCP connection per request (so IPVS schedules each one), and
rewrites FILE with the running tally every second. Only lab addresses are accepted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import time
from pathlib import Path

from lvstop.lab.topology import default_topology


def fetch(vip: str, port: int, timeout: float) -> str:
    conn = http.client.HTTPConnection(vip, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        return body if resp.status == 200 else f"HTTP {resp.status}"
    finally:
        conn.close()


class Tally:
    def __init__(self, vips: list[str]) -> None:
        self.by_vip: dict[str, dict[str, int]] = {vip: {} for vip in vips}
        self.errors: dict[str, int] = {vip: 0 for vip in vips}
        self.started = time.monotonic()

    def add(self, vip: str, server: str | None) -> None:
        if server is None:
            self.errors[vip] += 1
        else:
            self.by_vip[vip][server] = self.by_vip[vip].get(server, 0) + 1

    def as_dict(self) -> dict[str, object]:
        ok = sum(sum(d.values()) for d in self.by_vip.values())
        return {
            "requests": ok + sum(self.errors.values()),
            "ok": ok,
            "errors": self.errors,
            "by_vip": self.by_vip,
            "elapsed": round(time.monotonic() - self.started, 2),
            "pid": os.getpid(),
        }

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.as_dict(), sort_keys=True))
        tmp.replace(path)


def one(tally: Tally, vip: str, port: int, timeout: float) -> None:
    try:
        tally.add(vip, fetch(vip, port, timeout))
    except (OSError, http.client.HTTPException):
        tally.add(vip, None)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m lvstop.lab.load")
    parser.add_argument("--vip", action="append", required=True)
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--count", type=int, help="requests per VIP, then print the tally")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s, all VIPs")
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--stats", type=Path)
    args = parser.parse_args(argv)
    topo = default_topology()
    for vip in args.vip:
        if not topo.contains(vip):
            parser.error(f"{vip} is outside the lab network {topo.network}")
    if not 0 < args.rate <= 200 or not 0 < args.duration <= 3600:
        parser.error("give 0 < rate <= 200 and 0 < duration <= 3600")
    tally = Tally(args.vip)
    if args.count is not None:
        for _ in range(min(args.count, 10000)):
            for vip in args.vip:
                one(tally, vip, args.port, args.timeout)
        print(json.dumps(tally.as_dict(), sort_keys=True))
        return 0

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    interval = 1.0 / args.rate
    deadline = time.monotonic() + args.duration
    next_at = time.monotonic()
    last_save = 0.0
    i = 0
    try:
        while time.monotonic() < deadline:
            one(tally, args.vip[i % len(args.vip)], args.port, args.timeout)
            i += 1
            now = time.monotonic()
            if args.stats and now - last_save >= 1.0:
                tally.save(args.stats)
                last_save = now
            next_at = max(next_at + interval, now - 1.0)  # no catch-up bursts after a stall
            if next_at > now:
                time.sleep(next_at - now)
    finally:
        if args.stats:
            tally.save(args.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
