"""`lvstop export` vs node_exporter's ipvs collector: a scrape's time and bytes, and idle CPU.

    .venv/bin/python -m bench.bench_export            # boots one UML VM, prints figures
    .venv/bin/python -m bench.bench_export --quick    # fewer rounds, a shorter idle window
    .venv/bin/python -m bench.bench_export --report .lab/bench-export-XXXX   # re-print a run

Inside one UML boot, for tables of 1,000x10 and 5,000x4 real servers (``ipvsadm -R``), with
Debian's ``prometheus-node-exporter --collector.disable-defaults --collector.ipvs`` and
``lvstop export --no-keepalived`` both listening on the VM's 127.0.0.1, in interleaved
rotating rounds (medians):

- node_exporter: one scrape (HTTP GET /metrics, uncompressed): it reads and parses
  ``/proc/net/ip_vs`` and ``/proc/net/ip_vs_stats`` and renders, on every scrape;
- lvstop scrape: one scrape of the running exporter: it serves the body rendered from its last
  poll (the rendering is done once per poll, on the first scrape after it);
- lvstop poll+render: the work behind one fresh snapshot, in process: ``IpvsPoll.read()`` (the
  netlink dump, totals, rates; the exporter's own reader, its memo on an idle table) and
  ``render()``; ``cold`` is the same with every netlink message parsed (``memo=False``).

The per-scrape ratio quoted is (lvstop poll+render + lvstop scrape) / node_exporter scrape:
lvstop's whole cost when every scrape sees a new poll (``--interval`` = scrape interval).
Bytes: each body uncompressed and gzipped (what Prometheus asks for), and the number of
``node_ipvs_*`` samples each serves.

Idle CPU: on the 1,000x10 table and on 10x4, ``lvstop export --interval 15`` with VRRP capture
on (``--no-keepalived``: none runs in this VM) and node_exporter side by side, each scraped
every 15 s for the window;
CPU seconds from ``/proc/PID/stat`` over the window, as a percentage of one CPU. UML's clock
ticks every 10 ms and its syscalls cost ~50 us: compare within the boot, not with the host.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SIZES = [(1000, 10), (5000, 4)]
LVSTOP_PORT = 9469
NODE_PORT = 9100
IDLE_WINDOW = 180.0
IDLE_SIZES = [(1000, 10), (10, 4)]
SCRAPE_INTERVAL = 15.0


def get(port: int, gz: bool = False) -> bytes:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if gz:
        req.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(req, timeout=300) as reply:
        return bytes(reply.read())


def samples(body: bytes, prefix: str) -> int:
    return sum(
        1
        for line in body.decode().splitlines()
        if line.startswith(prefix) and not line.startswith("#")
    )


def wait_answering(port: int, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            get(port)
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"exporter on :{port} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def node_exporter(log: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus-node-exporter") or "prometheus-node-exporter"
    return start(
        [
            binary,
            "--collector.disable-defaults",
            "--collector.ipvs",
            f"--web.listen-address=127.0.0.1:{NODE_PORT}",
        ],
        log,
    )


def lvstop_export(log: Path, interval: float, *extra: str) -> subprocess.Popen[bytes]:
    return start(
        [
            sys.executable,
            "-m",
            "lvstop",
            "export",
            "--listen",
            f"127.0.0.1:{LVSTOP_PORT}",
            "--interval",
            str(interval),
            "--no-keepalived",
            *extra,
        ],
        log,
    )


def inside(out_dir: Path, quick: bool) -> None:
    from bench.bench_ipvs import run_rounds, sh
    from lvstop.export.metrics import ExportSnapshot, SourceStatus, render
    from lvstop.export.poller import IpvsPoll
    from lvstop.sources.ipvs import IpvsReader
    from tests.ipvs_oracle import big_table

    results: dict[str, Any] = {"sizes": [], "idle": None}
    log = out_dir / "exporters.log"
    for services, per in SIZES:
        sh(["ipvsadm", "-C"])
        sh(["ipvsadm", "-R"], stdin=big_table(services, per))
        procs = [node_exporter(log), lvstop_export(log, 3600, "--no-vrrp")]
        try:
            for proc, port in zip(procs, (NODE_PORT, LVSTOP_PORT), strict=True):
                wait_answering(port, proc)
            poll, cold = IpvsPoll(), IpvsPoll(reader=IpvsReader(memo=False))
            poll.read()  # the memo and the rates start from one earlier poll, as in the exporter
            cold.read()

            def poll_render(ipvs: IpvsPoll = poll) -> bytes:
                snapshot, totals, rates = ipvs.read()
                return render(
                    ExportSnapshot(
                        time=time.time(),
                        sources=(SourceStatus("ipvs", True),),
                        ipvs=snapshot,
                        totals=totals,
                        rates=rates,
                    )
                )

            rounds = 3 if quick else (9 if services * per <= 10_000 else 7)
            run = run_rounds(
                {
                    "node_exporter": lambda: get(NODE_PORT),
                    "lvstop_scrape": lambda: get(LVSTOP_PORT),
                    "lvstop_poll_render": poll_render,
                    "lvstop_poll_render_cold": functools.partial(poll_render, cold),
                },
                rounds,
            )
            theirs, ours = get(NODE_PORT), get(LVSTOP_PORT)
            ours_fresh = poll_render()
            row = {
                "services": services,
                "per_service": per,
                "run": run,
                "bytes": {
                    "node_exporter": len(theirs),
                    "lvstop": len(ours),
                    "node_exporter_gzip": len(get(NODE_PORT, gz=True)),
                    "lvstop_gzip": len(get(LVSTOP_PORT, gz=True)),
                    "lvstop_ipvs_only": len(ours_fresh),
                },
                "node_ipvs_samples": {
                    "node_exporter": samples(theirs, "node_ipvs_"),
                    "lvstop": samples(ours, "node_ipvs_"),
                },
                "samples": {"node_exporter": samples(theirs, ""), "lvstop": samples(ours, "")},
            }
            poll.close()
            cold.close()
        finally:
            stop(procs)
        results["sizes"].append(row)
        (out_dir / "results.json").write_text(json.dumps(results))
        print(f"inside: {services}x{per} done", flush=True)

    # idle CPU at a 15 s scrape interval: a big table, and a director's usual few services
    results["idle"] = []
    for services, per in IDLE_SIZES:
        results["idle"].append(idle_cpu(services, per, log, 60.0 if quick else IDLE_WINDOW))
        (out_dir / "results.json").write_text(json.dumps(results))
        print(f"inside: idle {services}x{per} done", flush=True)


def idle_cpu(services: int, per: int, log: Path, window: float) -> dict[str, Any]:
    from bench.bench_ipvs import sh
    from tests.ipvs_oracle import big_table

    sh(["ipvsadm", "-C"])
    sh(["ipvsadm", "-R"], stdin=big_table(services, per))
    procs = [node_exporter(log), lvstop_export(log, SCRAPE_INTERVAL)]
    try:
        for proc, port in zip(procs, (NODE_PORT, LVSTOP_PORT), strict=True):
            wait_answering(port, proc)
        time.sleep(SCRAPE_INTERVAL)  # past the start-up (imports, first poll)
        pids = {"node_exporter": procs[0].pid, "lvstop": procs[1].pid}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        t0 = time.monotonic()
        scrapes = 0
        while time.monotonic() - t0 < window:
            get(NODE_PORT, gz=True)
            get(LVSTOP_PORT, gz=True)
            scrapes += 1
            time.sleep(max(0.0, t0 + scrapes * SCRAPE_INTERVAL - time.monotonic()))
        elapsed = time.monotonic() - t0
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    finally:
        stop(procs)
    return {
        "window_s": elapsed,
        "scrapes": scrapes,
        "table": f"{services}x{per}",
        "cpu_s": {n: after[n] - before[n] for n in pids},
    }


# on the host


def boot(quick: bool, timeout: float) -> Path:
    from bench.bench_ipvs import boot as boot_script

    return boot_script(quick, timeout, "bench.bench_export")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def report(out: Path) -> None:
    results = json.loads((out / "results.json").read_text())
    print(f"== A scrape in UML (one boot), medians over interleaved rounds ({out}) ==")
    for row in results["sizes"]:
        run = row["run"]
        med = {name: statistics.median(times) for name, times in run["wall"].items()}
        cpu = {name: statistics.median(times) for name, times in run["cpu"].items()}
        per_round = [
            (p + s) / n
            for p, s, n in zip(
                run["wall"]["lvstop_poll_render"],
                run["wall"]["lvstop_scrape"],
                run["wall"]["node_exporter"],
                strict=True,
            )
            if n > 0
        ]
        b = row["bytes"]
        print(f"{row['services']:,}x{row['per_service']} ({run['rounds']} rounds):")
        print(f"  node_exporter scrape        {ms(med['node_exporter']):>12}")
        print(f"  lvstop scrape (served)      {ms(med['lvstop_scrape']):>12}")
        print(
            f"  lvstop poll+render          {ms(med['lvstop_poll_render']):>12}  "
            f"(cpu {ms(cpu['lvstop_poll_render'])})"
        )
        print(f"  lvstop poll+render, cold    {ms(med['lvstop_poll_render_cold']):>12}")
        print(
            f"  ratio (poll+render+scrape) / node_exporter: "
            f"{statistics.median(per_round):.2f}x (best {min(per_round):.2f}x); "
            f"served scrape alone {med['lvstop_scrape'] / med['node_exporter']:.2f}x"
        )
        print(
            f"  bytes: node_exporter {kib(b['node_exporter'])} (gzip "
            f"{kib(b['node_exporter_gzip'])}), lvstop {kib(b['lvstop'])} (gzip "
            f"{kib(b['lvstop_gzip'])}): {b['lvstop'] / b['node_exporter']:.2f}x "
            f"(gzip {b['lvstop_gzip'] / b['node_exporter_gzip']:.2f}x)"
        )
        print(
            f"  samples: node_ipvs_* {row['node_ipvs_samples']['node_exporter']:,} vs "
            f"{row['node_ipvs_samples']['lvstop']:,}; all {row['samples']['node_exporter']:,}"
            f" vs {row['samples']['lvstop']:,}"
        )
    for idle in results.get("idle") or []:
        print(
            f"== Idle CPU, scraped every {SCRAPE_INTERVAL:g} s for {idle['window_s']:.0f} s "
            f"({idle['scrapes']} scrapes, {idle['table']} table) =="
        )
        for name, seconds in idle["cpu_s"].items():
            print(
                f"  {name:<14} {seconds:.2f} s CPU = "
                f"{100 * seconds / idle['window_s']:.2f} % of one CPU"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help="print the report of an earlier run folder")
    parser.add_argument("--timeout", type=float, default=2400)
    args = parser.parse_args()
    if args.inside:
        inside(args.inside, args.quick)
        return 0
    if os.geteuid() != 0:
        raise SystemExit("bench_export: run as root (it boots a UML VM)")
    out = args.report or boot(args.quick, args.timeout)
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
