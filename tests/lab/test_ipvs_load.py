"""Under client load in the lab: lvstop's counters and connections agree with ipvsadm's.

Also records ``lvstop dump --json`` of d1 under steady load (a few consecutive polls) into
``.lab/ipvs-record/lab-steady-load.jsonl``, the data the dashboard's replay fakes use (copied
to ``tests/data/ipvs/``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lvstop.lab.handle import LabHandle

if TYPE_CHECKING:
    from lvstop.model.ipvs import Stats
    from lvstop.sources.ipvs import IpvsReader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ipvs_oracle

pytestmark = pytest.mark.lab


def service_stats(reader: IpvsReader, key: str) -> Stats:
    """Service ``key``'s counters as the reader reads them now; LookupError while the
    service is not there (``wait_until`` counts an exception as not yet)."""
    snap = reader.read()
    if snap.service(key) is None:
        raise LookupError(f"no service {key}")
    return snap.stats_of(key)


ROOT = Path(__file__).resolve().parents[2]
RECORD_DIR = ROOT / ".lab" / "ipvs-record"
VIP1, VIP2 = "10.0.5.96", "10.0.5.97"
RATE = 25.0  # client requests per second, over both VIPs


class Load:
    def __init__(self, lab: LabHandle, rate: float = RATE, duration: float = 120.0) -> None:
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                "client",
                sys.executable,
                "-m",
                "lvstop.lab.load",
                "--vip",
                VIP1,
                "--vip",
                VIP2,
                "--rate",
                str(rate),
                "--duration",
                str(duration),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def load(lab: LabHandle) -> Iterator[Load]:
    running = Load(lab)
    try:
        yield running
    finally:
        running.stop()


def d1_reader(lab: LabHandle) -> IpvsReader:
    from lvstop.sources.ipvs import IpvsReader

    with lab.netns("d1"):
        reader = IpvsReader()
        reader.read()  # the socket is opened here, in d1's netns
    return reader


def test_counters_and_connections_agree_with_ipvsadm_within_one_poll(
    lab: LabHandle, load: Load
) -> None:
    reader = d1_reader(lab)
    key = f"tcp:{VIP1}:8888"
    lab.wait_until(
        lambda: service_stats(reader, key).conns >= 20,
        timeout=30,
        what="client connections through d1",
    )
    checked = 0
    for _ in range(8):
        before = reader.read()
        stats = ipvs_oracle.parse_list(
            lab.run("d1", ["ipvsadm", "-Ln", "--exact", "--stats"]).stdout
        )
        conns = ipvs_oracle.parse_list(lab.run("d1", ["ipvsadm", "-Ln"]).stdout)
        after = reader.read()
        for svc in before.services:
            svc2 = after.service(svc.key)
            assert svc2 is not None
            for i, name in enumerate(ipvs_oracle.STAT_COLS):
                lo = getattr(before.stats_of(svc.key), name)
                hi = getattr(after.stats_of(svc.key), name)
                assert lo <= int(stats[svc.key].head[i]) <= hi, (svc.key, name)
            for rs in svc.real_servers:
                rs2 = svc2.real_server(rs.endpoint)
                assert rs2 is not None
                for i, name in enumerate(ipvs_oracle.STAT_COLS):
                    lo, hi = getattr(rs.stats, name), getattr(rs2.stats, name)
                    assert lo <= int(stats[svc.key].real_servers[rs.endpoint][i]) <= hi, (
                        rs.key,
                        name,
                    )
                # Forward Weight ActiveConn InActConn: gauges that go up AND down, so they
                # may move by as many connections as the load opens during the window
                cols = conns[svc.key].real_servers[rs.endpoint]
                for col, name in ((2, "active_conns"), (3, "inactive_conns")):
                    a, b = getattr(rs, name), getattr(rs2, name)
                    slack = int(RATE * (after.taken_at - before.taken_at)) + 1
                    assert min(a, b) - slack <= int(cols[col]) <= max(a, b) + slack, (
                        rs.key,
                        name,
                        a,
                        b,
                        cols,
                        slack,
                    )
                checked += 1
    assert checked >= 16
    reader.close()


def test_connection_table_agrees_with_ipvsadm_lnc(lab: LabHandle, load: Load) -> None:
    from lvstop.sources.conns import aggregate_text, decode_counts, read_conns

    reader = d1_reader(lab)

    def entries_in_table() -> bool:
        # the table, not the service's connection counter: that also counts connections of
        # earlier tests whose entries have expired since
        with lab.netns("d1"):
            return len(read_conns()[0]) >= 30

    lab.wait_until(entries_in_table, timeout=30, what="30 client connections in d1's table")
    load.stop()
    # Kernel 6.1 folds the per-CPU counters into the totals on its 2 s estimator tick, so the
    # counters ipvsadm and lvstop compare below hold still only after a tick that follows the
    # last packet: wait until two reads 2.2 s apart agree (entries meanwhile only age).
    key = f"tcp:{VIP1}:8888"

    def counters() -> tuple[int, ...]:
        stats = service_stats(reader, key)
        return (stats.conns, stats.inpkts, stats.outpkts, stats.inbytes, stats.outbytes)

    def settled() -> bool:
        before = counters()
        time.sleep(2.2)
        return counters() == before

    lab.wait_until(settled, timeout=30, what="d1's counters settled after the load stopped")
    with lab.netns("d1"):
        entries, warnings = read_conns()
        text = Path("/proc/net/ip_vs_conn").read_text()
    lnc_text = lab.run("d1", ["ipvsadm", "-Lnc"]).stdout
    lnc = ipvs_oracle.parse_lnc(lnc_text)
    assert not warnings
    assert len(entries) >= 30
    ours = Counter(
        (e.protocol, e.state, e.client_endpoint, e.virtual_endpoint, e.real_endpoint)
        for e in entries
    )
    assert ours == Counter(lnc)
    counts = decode_counts(aggregate_text(text))
    by_state: Counter[tuple[str, str, str]] = Counter()
    for c in counts:
        by_state[(c.virtual_endpoint, c.real_endpoint, c.state)] += c.count
    assert by_state == Counter((e[3], e[4], e[1]) for e in lnc)
    reader.close()
    # record d1's netlink replies with non-zero counters, and ipvsadm's views of the same
    # moment (no traffic now: counters and gauges hold still; the kernel's rates decay, so
    # the rate view is left out), for the host replay tests
    from ipvs_record import Recorder

    from lvstop.sources.ipvs import IpvsNetlink, IpvsReader

    with lab.netns("d1"):
        recorder = Recorder(IpvsNetlink())
    snap = IpvsReader(recorder).read()
    outputs = {
        name: lab.run("d1", ["ipvsadm", *argv]).stdout
        for name, argv in ipvs_oracle.IPVSADM_VIEWS.items()
        if name != "rate"
    }
    assert not ipvs_oracle.compare(snap, outputs)
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    (RECORD_DIR / "lab-d1-after-load.json").write_text(
        json.dumps(
            {
                "about": "d1 of the lvstop lab after client load (tests/lab/test_ipvs_load.py)",
                "exchanges": recorder.exchanges,
                "ipvsadm": outputs,
                "ip_vs_conn": text,
                "ipvsadm_lnc": lnc_text,
                "snapshot": snap.to_dict(),
            },
            indent=0,
        )
        + "\n"
    )
    recorder.close()


def test_record_dump_json_under_steady_load(lab: LabHandle, load: Load) -> None:
    from lvstop.model.ipvs import IpvsSnapshot

    reader = d1_reader(lab)
    lab.wait_until(
        lambda: service_stats(reader, f"tcp:{VIP1}:8888").conns >= 20,
        timeout=30,
        what="client connections through d1",
    )
    reader.close()
    lines = []
    for _ in range(6):
        t0 = time.monotonic()
        out = lab.run("d1", [sys.executable, "-m", "lvstop", "dump", "--json"]).stdout
        lines.append(json.dumps(json.loads(out), separators=(",", ":")))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    snaps = [IpvsSnapshot.from_dict(json.loads(line)) for line in lines]
    key = f"tcp:{VIP1}:8888"
    services = [s.service(key) for s in snaps]
    assert None not in services
    conns = [s.stats_of(key).conns for s in snaps]
    assert conns == sorted(conns) and conns[-1] > conns[0]  # steady load: counters grow
    assert all(len(svc.real_servers) == 2 for svc in services if svc is not None)
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    (RECORD_DIR / "lab-steady-load.jsonl").write_text("\n".join(lines) + "\n")


def test_ipv6_and_ipv4_connection_entries_agree_with_ipvsadm_lnc(lab: LabHandle) -> None:
    """Local clients (IPVS's LOCAL_OUT hook) make UDP entries of both families in a scratch
    netns; lvstop's table equals ipvsadm -Lnc. The text is recorded for the host tests."""
    import socket

    from lvstop.sources.conns import aggregate_text, decode_counts, parse_conn_table

    with lab.scratch_netns() as ns:

        def run(*argv: str) -> str:
            return subprocess.run(
                ["ip", "netns", "exec", ns, *argv],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout

        run("ip", "addr", "add", "2001:db8::1/128", "dev", "lo", "nodad")
        run("ip", "addr", "add", "10.0.5.96/32", "dev", "lo")
        run("ipvsadm", "-A", "-u", "[2001:db8::1]:53", "-s", "rr")
        run("ipvsadm", "-a", "-u", "[2001:db8::1]:53", "-r", "[2001:db8::7]:53", "-m")
        run("ipvsadm", "-a", "-u", "[2001:db8::1]:53", "-r", "[2001:db8::8]:5353", "-m")
        run("ipvsadm", "-A", "-u", "10.0.5.96:53", "-s", "rr", "-p", "60")
        run("ipvsadm", "-a", "-u", "10.0.5.96:53", "-r", "10.0.5.91:53", "-m")
        with lab.netns(ns):
            for family, vip in ((socket.AF_INET6, "2001:db8::1"), (socket.AF_INET, "10.0.5.96")):
                for _ in range(5):
                    with socket.socket(family, socket.SOCK_DGRAM) as s:
                        s.sendto(b"x", (vip, 53))
            time.sleep(0.5)
            text = Path("/proc/net/ip_vs_conn").read_text()
        lnc_text = run("ipvsadm", "-Lnc")
    entries, warnings = parse_conn_table(text)
    assert not warnings
    assert {e.virtual_address for e in entries} == {"2001:db8::1", "10.0.5.96"}
    lnc = ipvs_oracle.parse_lnc(lnc_text)
    assert Counter(
        (e.protocol, e.state, e.client_endpoint, e.virtual_endpoint, e.real_endpoint)
        for e in entries
    ) == Counter(lnc)
    counts = decode_counts(aggregate_text(text))
    assert sum(c.count for c in counts) == len(entries) >= 11  # 10 flows + a template
    RECORD_DIR.mkdir(parents=True, exist_ok=True)
    (RECORD_DIR / "conns-v4-v6.json").write_text(
        json.dumps(
            {
                "about": "scratch netns, local UDP clients (tests/lab/test_ipvs_load.py)",
                "ip_vs_conn": text,
                "ipvsadm_lnc": lnc_text,
            },
            indent=0,
        )
        + "\n"
    )
