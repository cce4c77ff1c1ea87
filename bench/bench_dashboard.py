#!/usr/bin/env python3
"""Dashboard benchmark (issue 6): first frame, refresh cost, keypress latency, terminal bytes.

    .venv/bin/python bench/bench_dashboard.py [--seconds 10] [--quick]

1. Time to first frame of the real `lvstop top --iface lo --read-only` in a pseudo-terminal
   (120×40): until the services panel is on the screen. (On this host there is no IPVS: the
   IPVS source reports that as a notice; the frame is still the real one.)
2. Per refresh at 100×10, 1,000×10 and 5,000×4 real servers (synthetic tables; every counter
   changes every poll, the worst case): wall and CPU time of rates + diff + rows + render
   (headless, 200×60). The poll itself (netlink read and parse, in a thread) is measured by
   bench/bench_ipvs.py; building the synthetic snapshot is shown apart.
   Also the same 1,000-row table through Textual's DataTable.update_cell, for comparison.
3. Keypress latency (↓ in the services table) in a pty while 1,000×10 is polled every second.
4. Bytes written to the terminal per second at 120×40, 1 s refresh: replayed steady lab
   traffic (recorded in tests/data/ui, counters extrapolated so traffic keeps flowing),
   nothing changing (idle), and `htop -d 10` at the same size in the same run; and a
   1,000-row table with one cell changing per second, DataTable.update_cell vs LineTable.
Targets (issue 6): refresh ≤ 75 ms at 1,000 RS, ≤ 250 ms at 10,000; idle CPU < 2 % at
100×10; zero bytes when nothing changed; steady ≤ 2× htop's bytes per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import pty
import resource
import select
import shutil
import signal
import struct
import sys
import termios
import time
from dataclasses import replace
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service, Stats, Timeouts  # noqa: E402

DATA = ROOT / "tests" / "data" / "ui"


# ---- synthetic and replayed sources ---------------------------------------------------------

def synthetic(services: int, per_service: int, tick: int) -> IpvsSnapshot:
    """services × per_service real servers; every counter moves with ``tick``."""
    out = []
    for s in range(services):
        vip = f"10.{s // 65536 % 256}.{s // 256 % 256}.{s % 256}"
        key = f"tcp:{vip}:80"
        rss = []
        for r in range(per_service):
            base = (s * per_service + r) % 97 + 1
            rss.append(RealServer(
                address=f"192.168.{r}.{s % 250 + 1}", port=8080, forward="masq", weight=1,
                active_conns=base + tick % 7, inactive_conns=base * 3 + tick % 5,
                stats=Stats(conns=tick * base, inpkts=tick * base * 10,
                            outpkts=tick * base * 9, inbytes=tick * base * 1500,
                            outbytes=tick * base * 9000),
                service_key=key))
        total = sum(rs.stats.conns for rs in rss)
        out.append(Service("tcp", "inet", vip, 80, scheduler="wlc",
                           stats=Stats(conns=total, inpkts=total * 10, inbytes=total * 1500),
                           real_servers=tuple(rss)))
    return IpvsSnapshot(tuple(out), Timeouts(), (), taken_at=float(tick),
                        wall_time=1.7e9 + tick)


class SyntheticSource:
    def __init__(self, services: int, per_service: int) -> None:
        self.services, self.per_service, self.tick = services, per_service, 0

    async def snapshot(self) -> IpvsSnapshot:
        # built in a thread, as the real netlink reader parses (GIL contention included)
        self.tick += 1
        return await asyncio.to_thread(synthetic, self.services, self.per_service, self.tick)

    async def close(self) -> None:
        return None


class SteadyLabSource:
    """The recorded steady lab traffic, extended: counters keep growing at the recorded
    average rate, connection counts cycle through the recorded values; time is real."""

    def __init__(self, moving: bool) -> None:
        from lvstop.tui.replay import load_ipvs_frames

        self.frames = load_ipvs_frames(DATA / "steady.ipvs.jsonl")
        first, last = self.frames[0], self.frames[-1]
        span = max(1e-3, last.taken_at - first.taken_at)
        self.per_second: dict[str, Stats] = {}
        for (s0, s1) in zip(first.services, last.services, strict=True):
            for o0, o1 in [(s0, s1), *zip(s0.real_servers, s1.real_servers, strict=True)]:
                key = o1.key
                self.per_second[key] = Stats(**{
                    f: int((getattr(o1.stats, f) - getattr(o0.stats, f)) / span)
                    for f in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")})
        self.moving = moving
        self.n = 0
        self.start = time.monotonic()

    def _stats(self, key: str, stats: Stats, seconds: float) -> Stats:
        d = self.per_second.get(key, Stats())
        return replace(stats, conns=stats.conns + int(d.conns * seconds),
                       inpkts=stats.inpkts + int(d.inpkts * seconds),
                       inbytes=stats.inbytes + int(d.inbytes * seconds))

    async def snapshot(self) -> IpvsSnapshot:
        self.n += 1
        now = time.monotonic()
        if not self.moving:
            frame = self.frames[-1]
            return replace(frame, taken_at=now)
        frame = self.frames[self.n % len(self.frames)]
        seconds = now - self.start
        services = tuple(replace(
            svc, stats=self._stats(svc.key, svc.stats, seconds),
            real_servers=tuple(replace(rs, stats=self._stats(rs.key, rs.stats, seconds))
                               for rs in svc.real_servers)) for svc in frame.services)
        return replace(frame, services=services, taken_at=now, wall_time=time.time())

    async def close(self) -> None:
        return None


def table_child(kind: str) -> None:
    """1,000 rows, one cell changing each second: LineTable vs DataTable.update_cell."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from lvstop.tui.rows import Column, Row
    from lvstop.tui.widgets.line_table import LineTable

    names = ("svc", "sched", "rs", "active", "inact", "cps", "inbps")

    def rows(tick: int) -> list[Row]:
        return [Row(str(i), (f"TCP 10.0.{i // 256}.{i % 256}:80", "wlc", "10/10",
                             str(tick if i == 3 else i % 7), "2", "3", "4"))
                for i in range(1000)]

    class Bench(App[None]):
        tick = 0

        def compose(self) -> ComposeResult:
            if kind == "datatable":
                yield DataTable()
            else:
                yield LineTable([Column(n, n, 22 if n == "svc" else 6) for n in names])

        def on_mount(self) -> None:
            if kind == "datatable":
                table = self.query_one(DataTable)
                self.cols = table.add_columns(*names)
                for row in rows(0):
                    table.add_row(*row.cells, key=row.key)
            else:
                self.query_one(LineTable).set_rows(rows(0))
            self.set_interval(1.0, self.step)

        def step(self) -> None:
            self.tick += 1
            if kind == "datatable":
                self.query_one(DataTable).update_cell("3", self.cols[3], str(self.tick))
            else:
                self.query_one(LineTable).set_rows(rows(self.tick))

    Bench().run()


def child(mode: str, interval: float) -> None:
    """Run the dashboard on this terminal with a bench source (the parent measures it)."""
    from lvstop.sources.host import HostStats
    from lvstop.tui.app import LvstopApp
    from lvstop.tui.replay import (
        FakeActions,
        FixedHostSource,
        ReplayVrrpSource,
        load_json_documents,
        load_vrrp_frames,
    )
    from lvstop.tui.sources import Sources

    host = HostStats.from_dict(load_json_documents(DATA / "host.jsonl")[0])
    vrrp = load_vrrp_frames(DATA / "steady.vrrp.jsonl")
    ipvs: Any
    if mode == "load1000":
        ipvs = SyntheticSource(1000, 10)
    else:
        ipvs = SteadyLabSource(moving=mode == "steady")
    sources = Sources(ipvs=ipvs, host=FixedHostSource(host), actions=FakeActions(),
                      vrrp=ReplayVrrpSource(vrrp, after_end="hold", clock=time.time))
    LvstopApp(sources, interval=interval).run()


# ---- pty harness ------------------------------------------------------------------------------

def spawn(argv: list[str], cols: int, rows: int) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", COLUMNS=str(cols),
                   LINES=str(rows))
        env.pop("NO_COLOR", None)
        os.execvpe(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def read_for(fd: int, seconds: float, sink: list[tuple[float, bytes]]) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            sink.append((time.monotonic(), data))


def stop(pid: int, fd: int) -> float:
    """Stop the child; returns its CPU seconds (user+sys)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    sink: list[tuple[float, bytes]] = []
    read_for(fd, 0.3, sink)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    os.close(fd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bytes_per_second(argv: list[str], seconds: float, warmup: float,
                     size: tuple[int, int] = (120, 40)) -> tuple[float, float]:
    pid, fd = spawn(argv, *size)
    sink: list[tuple[float, bytes]] = []
    read_for(fd, warmup, sink)
    sink.clear()
    read_for(fd, seconds, sink)
    cpu = stop(pid, fd)
    total = sum(len(d) for _, d in sink)
    return total / seconds, cpu


def first_frame(argv: list[str], marker: bytes) -> float:
    t0 = time.monotonic()
    pid, fd = spawn(argv, 120, 40)
    seen = b""
    found = float("nan")
    deadline = t0 + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            seen += data
            if marker in seen:
                found = time.monotonic() - t0
                break
    stop(pid, fd)
    return found


def keypress_latency(samples: int) -> list[float]:
    me = [sys.executable, str(Path(__file__).resolve()), "--child", "load1000"]
    pid, fd = spawn(me, 120, 40)
    sink: list[tuple[float, bytes]] = []
    read_for(fd, 4.0, sink)  # start + a few polls
    out = []
    for i in range(samples):
        # land at different moments of the 1 s poll cycle
        read_for(fd, 0.37 + (i % 5) * 0.11, sink)
        sink.clear()
        key = b"j" if i % 2 == 0 else b"k"
        t0 = time.monotonic()
        os.write(fd, key)
        read_for(fd, 0.6, sink)
        # the first output after the key: the cursor's two lines (a poll could also land
        # in between; then the key's repaint is at most as late as that frame)
        if sink:
            out.append(sink[0][0] - t0)
    stop(pid, fd)
    return out


# ---- in-process refresh cost --------------------------------------------------------------

async def refresh_cost(services: int, per_service: int, polls: int) -> dict[str, float]:
    from lvstop.sources.host import HostStats
    from lvstop.tui.app import LvstopApp
    from lvstop.tui.replay import FakeActions, FixedHostSource, load_json_documents
    from lvstop.tui.sources import Sources

    class Never:
        async def snapshot(self) -> IpvsSnapshot:
            await asyncio.Event().wait()
            raise AssertionError

        async def close(self) -> None:
            return None

    host = HostStats.from_dict(load_json_documents(DATA / "host.jsonl")[0])
    app = LvstopApp(Sources(ipvs=Never(), host=FixedHostSource(host), actions=FakeActions()),
                    interval=3600)
    walls, cpus, builds, updates = [], [], [], []
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        for tick in range(1, polls + 1):
            b0 = time.perf_counter()
            snap = synthetic(services, per_service, tick)
            builds.append(time.perf_counter() - b0)
            w0, c0 = time.perf_counter(), time.process_time()
            app.ipvs = snap  # the watcher: rates, events, rows, set_rows
            updates.append(time.perf_counter() - w0)
            # the screen update: compositor + (headless) driver; pause() also waits for the
            # next screen-update tick, so wall includes up to a frame of idle waiting
            await pilot.pause()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
    skip = 2  # first polls: no rates yet / first layout
    return {"wall_ms": median(walls[skip:]) * 1e3, "cpu_ms": median(cpus[skip:]) * 1e3,
            "build_ms": median(builds[skip:]) * 1e3, "max_ms": max(walls[skip:]) * 1e3,
            "update_ms": median(updates[skip:]) * 1e3}


async def datatable_cost(rows: int, polls: int) -> dict[str, float]:
    """The same kind of table through DataTable.update_cell (the issue's baseline)."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class T(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    app = T()
    walls = []
    async with app.run_test(size=(200, 60)) as pilot:
        table = app.query_one(DataTable)
        cols = table.add_columns("svc", "sched", "rs", "active", "inact", "cps", "inbps")
        for i in range(rows):
            table.add_row(f"TCP 10.0.{i // 256}.{i % 256}:80", "wlc", "10/10", "1", "2", "3",
                          "4", key=str(i))
        await pilot.pause()
        for tick in range(polls):
            w0 = time.perf_counter()
            for i in range(rows):
                table.update_cell(str(i), cols[3], str(tick + i % 7))
                table.update_cell(str(i), cols[5], str(tick * 3 + i % 5))
            await pilot.pause()
            walls.append(time.perf_counter() - w0)
    return {"wall_ms": median(walls[2:]) * 1e3}


async def idle_cpu(seconds: float) -> float:
    """CPU share of the App polling 100×10 at 1 s with nothing changing."""
    from lvstop.sources.host import HostStats
    from lvstop.tui.app import LvstopApp
    from lvstop.tui.replay import FakeActions, FixedHostSource, load_json_documents
    from lvstop.tui.sources import Sources

    class Same:
        def __init__(self) -> None:
            self.snap = synthetic(100, 10, 1)

        async def snapshot(self) -> IpvsSnapshot:
            return replace(self.snap, taken_at=time.monotonic())

        async def close(self) -> None:
            return None

    host = HostStats.from_dict(load_json_documents(DATA / "host.jsonl")[0])
    app = LvstopApp(Sources(ipvs=Same(), host=FixedHostSource(host), actions=FakeActions()),
                    interval=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.sleep(3)
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        share = (time.process_time() - c0) / (time.perf_counter() - w0)
        await pilot.pause()
    return share * 100


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="fewer polls and samples")
    args = parser.parse_args()
    if args.child in ("datatable", "linetable"):
        table_child(args.child)
        return 0
    if args.child:
        child(args.child, 1.0)
        return 0

    polls = 6 if args.quick else 12
    print("== first frame (real `lvstop top --iface lo --read-only`, pty 120x40)")
    lvstop = str(ROOT / ".venv" / "bin" / "lvstop")
    frames = [first_frame([lvstop, "top", "--iface", "lo", "--read-only"], b"Services")
              for _ in range(3)]
    print(f"   {', '.join(f'{f * 1000:.0f} ms' for f in frames)}  (target < 1000 ms)")

    print("== refresh: build snapshot + rates + diff + render, headless 200x60, median")
    for services, per in ((100, 10), (1000, 10), (5000, 4)):
        r = asyncio.run(refresh_cost(services, per, polls))
        print(f"   {services}x{per:<3} ({services * per:>6} RS): rates+diff+render wall "
              f"{r['wall_ms']:6.1f} ms  cpu {r['cpu_ms']:6.1f} ms  (rates+diff+rows alone "
              f"{r['update_ms']:.1f} ms; max wall {r['max_ms']:.1f} ms; building the "
              f"snapshot, not counted: {r['build_ms']:.1f} ms)")
    d = asyncio.run(datatable_cost(1000, polls))
    print(f"   DataTable.update_cell, 1000 rows x 2 cells: wall {d['wall_ms']:.1f} ms per refresh")

    share = asyncio.run(idle_cpu(5.0 if args.quick else 10.0))
    print(f"== idle CPU, 100x10 at 1 s, nothing changing: {share:.2f} % of a core "
          "(target < 2 %)")

    print("== keypress latency (j/k) in a pty, 1000x10 polled every second")
    lat = sorted(keypress_latency(10 if args.quick else 20))
    if lat:
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        print(f"   median {median(lat) * 1000:.0f} ms  p95 {p95 * 1000:.0f} ms  "
              f"max {lat[-1] * 1000:.0f} ms  (n={len(lat)}, target < 100 ms)")

    print(f"== bytes written to the terminal, 120x40, 1 s refresh, {args.seconds:g} s each")
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    # warm-up 12 s: the 10-poll sparklines are full, every rate has its 2 s window
    steady, steady_cpu = bytes_per_second([*me, "steady"], args.seconds, 12.0)
    idle, idle_cpu_s = bytes_per_second([*me, "idle"], args.seconds, 12.0)
    print(f"   lvstop steady lab traffic: {steady:8.0f} B/s  (cpu {steady_cpu:.2f} s)")
    print(f"   lvstop nothing changing:   {idle:8.0f} B/s  (cpu {idle_cpu_s:.2f} s)")
    dt, _ = bytes_per_second([*me, "datatable"], args.seconds, 4.0, (200, 60))
    lt, _ = bytes_per_second([*me, "linetable"], args.seconds, 4.0, (200, 60))
    print(f"   1,000-row table at 200x60, one cell changing each second: DataTable."
          f"update_cell {dt:.0f} B/s, LineTable {lt:.0f} B/s ({dt / max(lt, 1):.0f}x less)")
    htop = shutil.which("htop")
    if htop:
        h, h_cpu = bytes_per_second([htop, "-d", "10"], args.seconds, 12.0)
        print(f"   htop -d 10:                {h:8.0f} B/s  (cpu {h_cpu:.2f} s)")
        if h:
            print(f"   ratio steady/htop: {steady / h:.2f}  (target <= 2)")
    else:
        print("   htop not installed: apt-get install htop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
