"""IPVS benchmark: lvstop's snapshot vs `ipvsadm -Ln --stats` vs the stdlib floor, in one lab boot;
parsing alone replayed on the host; the connection-table aggregate vs `ipvsadm -Lnc`.

    .venv/bin/python bench/bench_ipvs.py            # boots one UML VM (~1-3 min), prints figures
    .venv/bin/python bench/bench_ipvs.py --quick    # smaller sizes, fewer repeats

Inside the VM, for tables of 100x10, 1,000x10 and 5,000x4 real servers (TCP, masq, loaded with
`ipvsadm -R`), it times per snapshot (wall and CPU):
- lvstop: ``IpvsReader.read()`` (services, real servers, stats, timeouts, daemons; the socket
  kept open as the dashboard does), cold (``memo=False``: every message parsed) and with the
  memo on an unchanged table (idle servers: the previous poll's objects are reused);
- ipvsadm: ``ipvsadm -Ln --stats`` as a whole process (output to a pipe);
- floor: the fastest stdlib dump-and-parse we could write (one socket, one service dump, one
  real-server dump per service, each message unpacked by one hard-coded ``struct`` into a
  tuple, no checks) — the lower bound for any Python reader;
- pyroute2 (reference, 100x10 and 1,000x10 only): ``IPVS().service("dump")`` + per-service
  ``dest("dump")`` with values read through ``IPVSService/IPVSDest.from_message``.
It records the kernel's replies, and the host then times parsing alone on those same bytes:
lvstop's parser (frozen dataclasses) vs the floor's (tuples) vs a floor that builds the same
dataclasses from a hard-coded struct.
Connection table: 100,000 entries (UDP, local client via a raw socket); counts per (virtual,
real server, state) by lvstop (``read_conn_counts``) vs ``ipvsadm -Lnc`` vs only reading the
file. UML syscalls cost ~50 us each: compare ratios within one boot, not absolute times.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SIZES = [(100, 10), (1000, 10), (5000, 4)]
QUICK_SIZES = [(100, 10), (1000, 10)]
CONN_ENTRIES = 100_000


# ------------------------------------------------------------------------------------------------
# the floor: the least a stdlib dump-and-parse can do


class Floor:
    """One genl socket; dumps parsed by one hard-coded struct per message kind, into tuples."""

    def __init__(self) -> None:
        from lvstop.sources.genl import GenlSocket

        self.g = GenlSocket()
        self.family, _ = self.g.resolve("IPVS")
        self.seq = 0
        self.buf = bytearray(1 << 20)
        self.svc_struct: struct.Struct | None = None
        self.dest_struct: struct.Struct | None = None

    def dump(self, cmd: int, attrs: bytes, parse: Any) -> list[Any]:
        sock = self.g._sock
        self.seq += 1
        msg = struct.pack("=IHHIIBBH", 20 + len(attrs), self.family, 0x301, self.seq, 0, cmd, 1,
                          0) + attrs
        sock.send(msg)
        out = []
        buf = self.buf
        hdr = struct.Struct("=IH").unpack_from
        while True:
            n = sock.recv_into(buf)
            off = 0
            while off < n:
                length, mtype = hdr(buf, off)
                if mtype == 3:  # NLMSG_DONE
                    return out
                if mtype == 2:
                    raise OSError("netlink error")
                out.append(parse(buf, off, length))
                off += (length + 3) & ~3

    def read(self) -> list[tuple[Any, list[tuple[Any, ...]]]]:
        from lvstop.sources.ipvs import discover_layout

        services = []

        def svc(buf: bytearray, off: int, length: int) -> Any:
            if self.svc_struct is None or self.svc_struct.size != length:
                self.svc_struct = discover_layout(buf, off, length).struct
            return self.svc_struct.unpack_from(buf, off), bytes(buf[off + 20:off + length])

        def dest(buf: bytearray, off: int, length: int) -> Any:
            if self.dest_struct is None:
                self.dest_struct = discover_layout(buf, off, length).struct
            return self.dest_struct.unpack_from(buf, off)

        for values, attrs in self.dump(4, b"", svc):
            # the identifying attributes (AF, PROTOCOL, ADDR, PORT) lead the nested service
            # attribute: reuse their bytes as the request (40 bytes + the nest header)
            ident = bytearray(attrs[:44])
            struct.pack_into("=H", ident, 0, 44)
            services.append((values, self.dump(8, bytes(ident), dest)))
        return services


def floor_parse_messages(dest_struct: struct.Struct, msgs: list[bytes]) -> list[Any]:
    unpack = dest_struct.unpack_from
    return [unpack(m, 0) for m in msgs]


# ------------------------------------------------------------------------------------------------
# inside the VM


def sh(argv: list[str], stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{argv}: {proc.stderr.strip()}")
    return proc.stdout


def timed(fn: Any, repeat: int) -> dict[str, float]:
    """Best-of and median wall / CPU seconds per call (CPU includes children's)."""
    walls, cpus = [], []
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        cpus.append(time.process_time() - c0 + child)
    walls.sort()
    cpus.sort()
    return {"wall_min": walls[0], "wall_med": walls[len(walls) // 2],
            "cpu_min": cpus[0], "cpu_med": cpus[len(cpus) // 2], "n": repeat}


def pyroute2_read() -> int:
    from pyroute2 import IPVS
    from pyroute2.ipvs import IPVSDest, IPVSService

    ipvs = IPVS()
    try:
        count = 0
        for msg in ipvs.service("dump"):
            svc = IPVSService.from_message(msg)
            for dmsg in ipvs.dest("dump", service=svc):
                IPVSDest.from_message(dmsg)
                count += 1
        return count
    finally:
        ipvs.close()


def make_conns(n: int) -> None:
    """n UDP flows to a local VIP: IPVS creates one connection entry per new flow (local
    clients go through its LOCAL_OUT hook). Raw socket, IP_HDRINCL, 10.77.x.y:port sources."""
    sh(["ip", "addr", "add", "10.0.5.96/32", "dev", "lo"])
    sh(["ipvsadm", "-A", "-u", "10.0.5.96:53", "-s", "rr"])
    for r in (91, 92):
        sh(["ipvsadm", "-a", "-u", "10.0.5.96:53", "-r", f"10.0.5.{r}:53", "-m"])
    sh(["ipvsadm", "--set", "0", "0", "3600"])  # keep the UDP entries for the whole run
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    dst = socket.inet_aton("10.0.5.96")
    for i in range(n):
        src = socket.inet_aton(f"10.77.{i // 60000}.{1 + (i // 250) % 240}")
        sport = 1024 + i % 60000
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + 4, i & 0xFFFF, 0, 64, 17, 0, src,
                         dst)
        udp = struct.pack("!HHHH", sport, 53, 12, 0) + b"ping"
        s.sendto(ip + udp, ("10.0.5.96", 0))
    s.close()


def inside(out_dir: Path, quick: bool) -> None:
    from ipvs_oracle import big_table

    from lvstop.sources.conns import read_conn_counts, read_table_text
    from lvstop.sources.ipvs import IpvsNetlink, IpvsReader, Recorder

    results: dict[str, Any] = {"sizes": [], "conns": None}
    sizes = QUICK_SIZES if quick else SIZES
    for services, per in sizes:
        sh(["ipvsadm", "-C"])
        t0 = time.perf_counter()
        sh(["ipvsadm", "-R"], stdin=big_table(services, per))
        load_s = time.perf_counter() - t0
        # the host is shared (other VMs run): more repeats where a run is cheap
        repeat = 15 if services * per <= 1_000 else 7 if services * per <= 10_000 else 5
        if quick:
            repeat = 2
        reader = IpvsReader()
        snap = reader.read()
        assert sum(len(s.real_servers) for s in snap.services) == services * per
        row: dict[str, Any] = {"services": services, "per_service": per, "load_s": load_s}
        cold = IpvsReader(memo=False)
        cold.read()
        row["lvstop"] = timed(cold.read, repeat)  # every message parsed
        cold.close()
        row["lvstop_memo"] = timed(reader.read, repeat)  # unchanged objects reused
        row["ipvsadm"] = timed(lambda: sh(["ipvsadm", "-Ln", "--stats"]), repeat)
        floor = Floor()
        floor.read()
        row["floor"] = timed(floor.read, repeat)
        if services * per <= 10_000 and not quick:
            try:
                row["pyroute2"] = timed(pyroute2_read, 1)
            except Exception as exc:  # a reference only: report, do not lose the run
                print(f"inside: pyroute2 failed: {exc!r}", flush=True)
        reader.close()
        # the kernel's replies, for the host replay
        rec_reader = IpvsReader(Recorder(IpvsNetlink()))
        rec_reader.read()
        (out_dir / f"replies-{services}x{per}.json").write_text(
            json.dumps(rec_reader.transport.exchanges))
        rec_reader.close()
        results["sizes"].append(row)
        print(f"inside: {services}x{per} done", flush=True)

    sh(["ipvsadm", "-C"])
    n = 20_000 if quick else CONN_ENTRIES
    t0 = time.perf_counter()
    make_conns(n)
    make_s = time.perf_counter() - t0
    lines = read_table_text().count("\n") - 1
    conns: dict[str, Any] = {"entries": lines, "make_s": make_s}
    conns["lvstop_counts"] = timed(read_conn_counts, 2)
    conns["read_only"] = timed(read_table_text, 2)
    conns["ipvsadm_lnc"] = timed(lambda: sh(["ipvsadm", "-Lnc"]), 1)
    counts = read_conn_counts()
    conns["groups"] = len(counts)
    conns["counted"] = sum(c.count for c in counts)
    results["conns"] = conns
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))


# ------------------------------------------------------------------------------------------------
# on the host


INIT = """#!/bin/bash
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mkdir -p /run/netns
mkdir -p /tmp/mr/lib/modules
ln -s /usr/lib/uml/modules/$(uname -r) /tmp/mr/lib/modules/$(uname -r)
for m in ip_vs ip_vs_rr ip_vs_wrr; do modprobe -d /tmp/mr $m; done
ip link set lo up
cd {root}
{python} {script} --inside {out} {quick} > {out}/inside.log 2>&1
echo $? > {out}/status
sync
poweroff -f
"""


def boot(quick: bool, timeout: float) -> Path:
    lab = ROOT / ".lab"
    lab.mkdir(exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="bench-ipvs-", dir=lab))
    init = out / "init.sh"
    init.write_text(INIT.format(root=ROOT, python=sys.executable, script=Path(__file__).resolve(),
                                out=out, quick="--quick" if quick else ""))
    init.chmod(0o755)
    uml = shutil.which("linux.uml")
    if uml is None:
        raise SystemExit("bench_ipvs: linux.uml not found: apt-get install -y user-mode-linux")
    print(f"booting UML (results in {out}) ...", flush=True)
    with (out / "console.log").open("w") as console:
        subprocess.run(["timeout", str(int(timeout)), uml, "mem=2G", "root=/dev/root",
                        "rootfstype=hostfs", "rootflags=/", "rw", f"init={init}", "con=null",
                        "con0=fd:0,fd:1", "quiet"], stdin=subprocess.DEVNULL, stdout=console,
                       stderr=subprocess.STDOUT, check=False)
    status = (out / "status").read_text().strip() if (out / "status").exists() else "none"
    if status != "0":
        log = (out / "inside.log").read_text() if (out / "inside.log").exists() else ""
        raise SystemExit(f"bench_ipvs: the VM run failed (status {status}):\n{log[-2000:]}")
    return out


def replay_parse(exchanges: list[dict[str, Any]], repeat: int = 5) -> dict[str, float]:
    """Parsing alone on the host: the same bytes through lvstop's parser and the floors."""
    from lvstop.model.ipvs import RealServer, Service, Stats
    from lvstop.sources.ipvs import (
        IpvsReader,
        LayoutCache,
        Replayer,
        discover_layout,
        format_address,
        make_dest_builder,
        make_service_builder,
    )

    svc_msgs = [bytearray.fromhex(m) for ex in exchanges if ex["kind"] == "dump"
                and ex["cmd"] == 4 for m in ex["replies"]]
    dest_groups = [[bytearray.fromhex(m) for m in ex["replies"]] for ex in exchanges
                   if ex["kind"] == "dump" and ex["cmd"] == 8]
    n_rs = sum(len(g) for g in dest_groups)
    dest_struct = discover_layout(dest_groups[0][0], 0, len(dest_groups[0][0])).struct
    layout = discover_layout(dest_groups[0][0], 0, len(dest_groups[0][0]))
    ix = layout.index

    def lvstop_parse() -> None:
        svc_cache = LayoutCache(make_service_builder)
        dest_cache = LayoutCache(make_dest_builder)
        services = []
        for smsg, group in zip(svc_msgs, dest_groups, strict=True):
            args, _ident, af = svc_cache.parse(smsg, 0, len(smsg))
            key = "k"
            parse = dest_cache.parse
            dests = [parse(m, 0, len(m), key, af) for m in group]
            services.append(Service(*args, real_servers=tuple(dests)))

    def floor_tuples() -> None:
        unpack = dest_struct.unpack_from
        for group in dest_groups:
            [unpack(m, 0) for m in group]

    a, p, fw, w, ut, lt, ac, ic, pc = (ix[(2, t)] for t in (1, 2, 3, 4, 5, 6, 7, 8, 9))
    st = [ix[(2, 12, t)] for t in range(1, 11)]

    svc_layout = discover_layout(svc_msgs[0], 0, len(svc_msgs[0]))
    six = svc_layout.index
    s_unpack = svc_layout.struct.unpack_from
    s_addr, s_port, s_sched, s_timeout, s_mask = (six[(1, t)] for t in (3, 4, 6, 8, 9))
    s_st = [six[(1, 12, t)] for t in range(1, 11)]
    sched_names: dict[bytes, str] = {}

    def floor_model() -> None:
        unpack = dest_struct.unpack_from
        fwd = ("masq", "local", "tunnel", "route", "bypass", "5", "6", "7")
        services = []
        for smsg, group in zip(svc_msgs, dest_groups, strict=True):
            sv = s_unpack(smsg, 0)
            out = []
            for m in group:
                v = unpack(m, 0)
                out.append(RealServer(
                    format_address(2, v[a]), ((v[p] & 255) << 8) | (v[p] >> 8), "inet",
                    fwd[v[fw] & 7], v[w], v[ut], v[lt], v[ac], v[ic], v[pc],
                    Stats(v[st[0]], v[st[1]], v[st[2]], v[st[3]], v[st[4]], v[st[5]],
                          v[st[6]], v[st[7]], v[st[8]], v[st[9]]), "k"))
            raw = sv[s_sched]
            sched = sched_names.get(raw) or sched_names.setdefault(raw, raw.split(b"\0")[0]
                                                                   .decode())
            services.append(Service(
                "tcp", "inet", format_address(2, sv[s_addr]),
                ((sv[s_port] & 255) << 8) | (sv[s_port] >> 8), None, sched, (),
                sv[s_timeout], bin(sv[s_mask]).count("1"), None,
                Stats(*(sv[i] for i in s_st)), tuple(out)))

    def whole_replay() -> None:
        IpvsReader(Replayer(exchanges), with_daemons=True).read()

    res: dict[str, float] = {"real_servers": n_rs}
    # all with the cyclic GC paused, as IpvsReader.read() runs (else the floors pay for it)
    gc.disable()
    try:
        for name, fn in (("lvstop", lvstop_parse), ("floor_tuples", floor_tuples),
                         ("floor_model", floor_model), ("lvstop_reader_replay", whole_replay)):
            fn()
            best = min(timed(fn, 1)["wall_min"] for _ in range(repeat))
            res[name] = best
    finally:
        gc.enable()
    return res


def ms(x: float) -> str:
    return f"{x * 1000:9.1f} ms"


def report(out: Path, quick: bool) -> None:
    results = json.loads((out / "results.json").read_text())
    print()
    print("== Snapshot in UML (one boot): wall / CPU per snapshot, best of n (median) ==")
    print("   lvstop = every message parsed (cold); lvstop_memo = unchanged table, the previous "
          "poll's objects reused (idle servers)")
    print(f"{'table':>10} {'who':>11} {'wall':>12} {'(median)':>12} {'cpu':>12}   "
          f"ratio vs ipvsadm   vs floor")
    for row in results["sizes"]:
        size = f"{row['services']}x{row['per_service']}"
        ip = row["ipvsadm"]["wall_min"]
        fl = row["floor"]["wall_min"]
        for who in ("lvstop", "lvstop_memo", "ipvsadm", "floor", "pyroute2"):
            if who not in row:
                continue
            t = row[who]
            print(f"{size:>10} {who:>11} {ms(t['wall_min'])} {ms(t['wall_med'])} "
                  f"{ms(t['cpu_min'])}   {t['wall_min'] / ip:8.3f}x      "
                  f"{t['wall_min'] / fl:6.2f}x")
        verdict = "OK" if row["lvstop"]["wall_min"] <= 0.3 * ip else "MISSED"
        memo_v = "OK" if row["lvstop_memo"]["wall_min"] <= 0.3 * ip else "MISSED"
        print(f"{'':>10} target <= 0.3x ipvsadm: cold {verdict}, memo {memo_v}")
    print()
    print("== Parsing alone, host replay of the recorded replies (best of 5) ==")
    print(f"{'table':>10} {'lvstop':>12} {'floor(tuples)':>14} {'floor(model)':>13} "
          f"{'us/RS lvstop':>13} {'vs tuples':>10} {'vs model':>9} {'reader+replay':>14}")
    for row in results["sizes"]:
        size = f"{row['services']}x{row['per_service']}"
        ex = json.loads((out / f"replies-{size}.json").read_text())
        r = replay_parse(ex)
        n = r["real_servers"]
        print(f"{size:>10} {ms(r['lvstop'])} {ms(r['floor_tuples']):>14} "
              f"{ms(r['floor_model']):>13} {r['lvstop'] / n * 1e6:10.2f} us "
              f"{r['lvstop'] / r['floor_tuples']:9.2f}x {r['lvstop'] / r['floor_model']:8.2f}x "
              f"{ms(r['lvstop_reader_replay']):>14}")
    print("  target: parsing within 1.5x of the floor (floor(model) builds the same "
          "dataclasses from one hard-coded struct; floor(tuples) builds nothing)")
    c = results["conns"]
    print()
    print(f"== Connection table in UML: {c['entries']:,} entries, {c['groups']} groups "
          f"(counted {c['counted']:,}) ==")
    ip = c["ipvsadm_lnc"]["wall_min"]
    for who in ("lvstop_counts", "read_only", "ipvsadm_lnc"):
        t = c[who]
        print(f"{who:>14} {ms(t['wall_min'])} cpu {ms(t['cpu_min'])}   "
              f"{t['wall_min'] / ip:6.3f}x ipvsadm -Lnc")
    verdict = "OK" if c["lvstop_counts"]["wall_min"] <= 0.25 * ip else "MISSED"
    print(f"  target lvstop counts <= 0.25x ipvsadm -Lnc: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help="print the report of an earlier run folder")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside, args.quick)
        return 0
    if os.geteuid() != 0:
        raise SystemExit("bench_ipvs: run as root (it boots a UML VM)")
    out = args.report or boot(args.quick, args.timeout)
    report(out, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
