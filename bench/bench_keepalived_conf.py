#!/usr/bin/env python3
"""keepalived.conf parse time of a 10 MB config (issue 9: "a 10 MB config still parses in
seconds").

    .venv/bin/python bench/bench_keepalived_conf.py            # 3 rounds
    .venv/bin/python bench/bench_keepalived_conf.py --rounds 5

The config is the one tests/unit/test_keepalived_conf.py parses for correctness: one virtual
server with 120,000 real servers, each with a TCP_CHECK (10.4 MB), plus, in a second file of the
same size, 2,000 VRRP instances with VIPs, virtual routes and rules (the route and rule readers
added for the samples). Prints the median wall and CPU seconds of ``parse_file`` per file and
the MB/s; the target is judged on CPU seconds (<= 10 s for either file), as wall time on a
machine shared with other jobs measures the others too (the load average is printed). Pure
Python on the host: no kernel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from lvstop.sources.keepalived_conf import parse_file

TARGET_SECONDS = 10.0


def real_servers(n: int = 120_000) -> str:
    rs = "".join(
        f"  real_server 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256} 80 {{\n"
        "    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n"
        for i in range(n)
    )
    return f"virtual_server 10.0.0.1 80 {{\n{rs}}}\n"


def instances(size: int) -> str:
    parts = []
    i = 0
    total = 0
    while total < size:
        vrid = i % 255 + 1
        block = (
            f"vrrp_instance VI_{i} {{\n    interface eth{i % 4}\n"
            f"    virtual_router_id {vrid}\n    priority {100 + i % 100}\n"
            "    virtual_ipaddress {\n"
            + "".join(f"        10.{i % 256}.{j}.1/24\n" for j in range(20))
            + "    }\n    virtual_routes {\n"
            + "".join(f"        10.{i % 256}.{j}.0/24 via 10.0.0.254 dev eth0\n" for j in range(20))
            + "    }\n    virtual_rules {\n"
            + "".join(f"        from 10.{i % 256}.{j}.0/24 table {j + 1}\n" for j in range(10))
            + "    }\n}\n"
        )
        parts.append(block)
        total += len(block)
        i += 1
    return "".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as directory:
        for name, text in (
            ("real servers", real_servers()),
            ("vrrp instances", instances(10 << 20)),
        ):
            path = Path(directory) / "keepalived.conf"
            path.write_text(text)
            walls, cpus = [], []
            for _ in range(args.rounds):
                wall0, cpu0 = time.perf_counter(), time.process_time()
                cfg = parse_file(str(path), config_id="bench")
                walls.append(time.perf_counter() - wall0)
                cpus.append(time.process_time() - cpu0)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            worst = max(worst, cpu)
            megabytes = len(text) / 1e6
            count = sum(len(vs.real_servers) for vs in cfg.virtual_servers) + len(
                cfg.vrrp_instances
            )
            print(
                f"{name:15} {megabytes:5.1f} MB ({count:,} blocks): wall {wall:.2f} s, "
                f"CPU {cpu:.2f} s, {megabytes / wall:.1f} MB/s (median of {args.rounds})"
            )
    verdict = "PASS" if worst <= TARGET_SECONDS else "MISS"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"slowest CPU {worst:.2f} s (target <= {TARGET_SECONDS:.0f} s): {verdict}; load {load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
