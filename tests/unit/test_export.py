"""``lvstop export`` on the host: the exposition of recorded lab data, the contract, the
snapshot swap, the HTTP server and the command's errors. The comparison with node_exporter
itself runs in the lab (``tests/lab/test_export_lab.py``)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lvstop.errors import LvstopError
from lvstop.export.metrics import (
    BACKEND_LABELS,
    METRICS,
    ExportSnapshot,
    KeepalivedView,
    Published,
    SourceStatus,
    go_ip,
    parse_backend_labels,
    render,
)
from lvstop.export.server import parse_listen, serve
from lvstop.model.ipvs import IpvsSnapshot, Stats
from lvstop.model.vrrp import VrrpSnapshot
from lvstop.sources.ipvs_totals import parse_totals, read_totals
from lvstop.track.rates import Rates

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
UP = (SourceStatus("ipvs", True), SourceStatus("vrrp", True), SourceStatus("keepalived", True))

# /proc/net/ip_vs_stats in the layout of kernel 6.1's ip_vs_stats_show (values made up)
IP_VS_STATS = """\
   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
      3A      1F4        0            1A2B3                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       5       2A        0              C80                0
"""


def samples(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def recorded_table() -> IpvsSnapshot:
    doc = json.loads((DATA / "ipvs" / "table-seed1.json").read_text())
    return IpvsSnapshot.from_dict(doc["snapshot"])


def test_totals_parsed_from_hex() -> None:
    t = parse_totals(IP_VS_STATS)
    assert (t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes) == (58, 500, 0, 107_187, 0)
    assert (t.cps, t.inpps, t.inbps) == (5, 42, 3200)
    for bad in ("", "a\nb\nc d e\n", "x\ny\n1 2 3 4 zz\n"):
        with pytest.raises(ValueError):
            parse_totals(bad)


def test_read_totals_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LvstopError, match="no such file"):
        read_totals(str(tmp_path / "missing"))
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    with pytest.raises(LvstopError, match="not the IPVS totals"):
        read_totals(str(junk))


def test_listen_and_backend_labels_are_validated() -> None:
    assert parse_listen("127.0.0.1:9469") == ("127.0.0.1", 9469)
    assert parse_listen("[::1]:9469") == ("::1", 9469)
    assert parse_listen("[2001:DB8::0:1]:80") == ("2001:db8::1", 80)
    for bad in (
        ":9469",
        "9469",
        "localhost:9469",
        "1.2.3.4:0",
        "1.2.3.4:70000",
        "[::1]9469",
        "::1:9469",
        "1.2.3.4:x",
    ):
        with pytest.raises(ValueError, match="--listen"):
            parse_listen(bad)
    assert parse_backend_labels("proto,local_address") == ("local_address", "proto")
    assert parse_backend_labels(",".join(BACKEND_LABELS)) == BACKEND_LABELS
    with pytest.raises(ValueError, match="unknown IPVS backend labels: bogus"):
        parse_backend_labels("local_address,bogus")


def test_go_ip_prints_ipv4_mapped_as_ipv4() -> None:
    assert go_ip("::ffff:10.0.0.1") == "10.0.0.1"
    assert go_ip("2001:db8::1") == "2001:db8::1"
    assert go_ip("10.0.5.96") == "10.0.5.96"


def test_recorded_table_renders_node_exporter_labels() -> None:
    table = recorded_table()
    rendered = samples(
        render(ExportSnapshot(time=1.0, sources=UP, ipvs=table, totals=parse_totals(IP_VS_STATS)))
    )
    assert rendered[("node_ipvs_connections_total", ())] == 58
    weights = {
        labels: v for (name, labels), v in rendered.items() if name == "node_ipvs_backend_weight"
    }
    n_rs = sum(len(s.real_servers) for s in table.services)
    assert len(weights) == n_rs > 50
    for svc in table.services:
        for rs in svc.real_servers:
            if svc.protocol == "fwmark":
                svc_labels = {
                    "local_address": "",
                    "local_port": "0",
                    "proto": "FWM",
                    "local_mark": f"{svc.fwmark:08X}",
                }
            else:
                assert svc.address is not None
                svc_labels = {
                    "local_address": svc.address,
                    "local_port": str(svc.port),
                    "proto": svc.protocol.upper(),
                    "local_mark": "",
                }
            labels = tuple(
                sorted(
                    {
                        **svc_labels,
                        "remote_address": rs.address,
                        "remote_port": str(rs.port),
                    }.items()
                )
            )
            assert weights[labels] == rs.weight
            assert rendered[("lvstop_real_server_drained", labels)] == (rs.weight == 0)
    assert any(
        dict(k)["proto"] == "FWM" and re.fullmatch(r"[0-9A-F]{8}", dict(k)["local_mark"])
        for k in weights
    )
    assert any(":" in dict(k)["local_address"] for k in weights)
    assert rendered[("lvstop_ipvs_real_servers", ())] == n_rs
    assert rendered[("lvstop_source_up", (("source", "ipvs"),))] == 1


def test_dropping_port_labels_sums_like_node_exporter() -> None:
    table = recorded_table()
    labels = parse_backend_labels("local_address,remote_address,proto,local_mark")
    full = samples(render(ExportSnapshot(time=1.0, sources=UP, ipvs=table)))
    summed = samples(render(ExportSnapshot(time=1.0, sources=UP, ipvs=table), labels))
    for name in (
        "node_ipvs_backend_weight",
        "node_ipvs_backend_connections_active",
        "lvstop_real_server_drained",
    ):
        ours = {k: v for (n, k), v in summed.items() if n == name}
        assert all("local_port" not in dict(k) and "remote_port" not in dict(k) for k in ours)
        expect: dict[tuple[tuple[str, str], ...], float] = {}
        for (n, k), v in full.items():
            if n == name:
                key = tuple((a, b) for a, b in k if a not in ("local_port", "remote_port"))
                expect[key] = expect.get(key, 0) + v
        assert ours == expect


def test_a_failed_source_has_up_0_and_no_series() -> None:
    table = recorded_table()
    snap = ExportSnapshot(
        time=5.0,
        ipvs=table,
        sources=(
            SourceStatus("ipvs", False, "no IPVS in this kernel: modprobe ip_vs", 1.0, 0.01),
            SourceStatus("keepalived", True, "", 5.0, 0.1),
        ),
    )
    rendered = samples(render(snap))
    assert rendered[("lvstop_source_up", (("source", "ipvs"),))] == 0
    assert rendered[("lvstop_source_last_success_timestamp_seconds", (("source", "ipvs"),))] == 1.0
    assert not [k for k in rendered if k[0].startswith(("node_ipvs_", "lvstop_real_server"))]


def vrrp_snapshot(name: str) -> tuple[VrrpSnapshot, tuple[tuple[str, int], ...]]:
    from lvstop.sources.pcap import PcapReader
    from lvstop.sources.vrrp_decode import CachedDecoder
    from lvstop.track.vrrp import VrrpTracker

    tracker = VrrpTracker(per_interface=True)
    decode = CachedDecoder().decode
    bogus: dict[str, int] = {}
    last = 0.0
    for t, linktype, data, iface in PcapReader(DATA / "vrrp" / name).records():
        advert = decode(linktype, data, t, iface)
        if advert is not None:
            if not advert.valid:
                bogus[advert.error or "?"] = bogus.get(advert.error or "?", 0) + 1
            tracker.feed(advert, t)
            last = t
    tracker.tick(last)
    return tracker.snapshot(last), tuple(sorted(bogus.items()))


def test_recorded_failover_shows_in_the_vrrp_series() -> None:
    vrrp, bogus = vrrp_snapshot("lab_kill9_failover_gap_then_preempt.pcap")
    rendered = samples(
        render(ExportSnapshot(time=vrrp.time, sources=UP, vrrp=vrrp, bogus_by_check=bogus))
    )
    v = vrrp.vrids[0]
    key = (("family", v.family), ("interface", v.interface or ""), ("vrid", str(v.vrid)))
    assert v.failovers >= 1
    assert rendered[("lvstop_vrrp_failovers_total", key)] == v.failovers
    assert v.last_gap_ms is not None and v.master is not None
    assert rendered[("lvstop_vrrp_last_failover_gap_seconds", key)] == v.last_gap_ms / 1000
    assert rendered[("lvstop_vrrp_has_master", key)] == 1
    assert rendered[("lvstop_vrrp_master", tuple(sorted((*key, ("master", v.master)))))] == 1
    assert rendered[("lvstop_vrrp_adverts_total", ())] == vrrp.adverts_total


def test_recorded_split_brain_shows_in_the_vrrp_series() -> None:
    vrrp, _ = vrrp_snapshot("lab_vrrp_cut_split_brain_and_cleared.pcap")
    rendered = samples(render(ExportSnapshot(time=vrrp.time, sources=UP, vrrp=vrrp)))
    seconds = [
        v for (name, _k), v in rendered.items() if name == "lvstop_vrrp_split_brain_seconds_total"
    ]
    assert max(seconds) > 0  # the cut's split brain, cleared by the end of the capture
    assert all(v == 0 for (name, _k), v in rendered.items() if name == "lvstop_vrrp_split_brain")


def test_a_scrape_never_mixes_two_snapshots() -> None:
    """Scrapes in threads while the poller swaps snapshots whose every weight differs: each
    body must hold one snapshot's weights and time stamp throughout."""
    table = recorded_table()
    versions = []
    for n in (1, 2, 3):
        services = tuple(
            replace(s, real_servers=tuple(replace(rs, weight=n) for rs in s.real_servers))
            for s in table.services
        )
        versions.append(
            ExportSnapshot(time=float(n), sources=UP, ipvs=IpvsSnapshot(services, table.timeouts))
        )
    published = Published()
    published.publish(versions[0])
    seen: list[set[float]] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            body = published.body()
            assert body is not None
            got = samples(body)
            weights = {v for (name, _k), v in got.items() if name == "node_ipvs_backend_weight"}
            weights.add(got[("lvstop_export_snapshot_timestamp_seconds", ())])
            seen.append(weights)

    threads = [threading.Thread(target=scrape) for _ in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    swaps = 0
    while (len(seen) < 30 or swaps < 30) and time.monotonic() < deadline:
        published.publish(versions[swaps % 3])
        swaps += 1
        time.sleep(0.001)
    stop.set()
    for t in threads:
        t.join(60)
    assert len(seen) >= 30
    assert all(len(one) == 1 for one in seen), [one for one in seen if len(one) != 1][:3]
    assert len({next(iter(one)) for one in seen}) >= 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_serves_get_only_and_gzip() -> None:
    published = Published()
    published.publish(ExportSnapshot(time=3.0, sources=UP, ipvs=recorded_table()))
    port = free_port()
    server = serve(("127.0.0.1", port), published)
    try:
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            plain = r.read()
        req = urllib.request.Request(url + "/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            import gzip

            assert gzip.decompress(r.read()) == plain
        for method, path, code in (
            ("POST", "/metrics", 501),
            ("PUT", "/metrics", 501),
            ("DELETE", "/metrics", 501),
            ("GET", "/admin", 404),
        ):
            req = urllib.request.Request(
                url + path, method=method, data=b"x" if method != "GET" else None
            )
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=30)
            assert info.value.code == code
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_taken_port_in_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(LvstopError, match=f"cannot listen on 127.0.0.1:{port}: "):
            serve(("127.0.0.1", port), Published())


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lvstop", "export", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "--listen ADDR:PORT is required"),
        (("--listen", ":9469"), "give the address to bind"),
        (("--listen", "127.0.0.1:9469", "--backend-labels", "nope"), "unknown IPVS backend"),
        (("--listen", "127.0.0.1:9469", "--interval", "0"), "--interval must be"),
    ],
)
def test_cli_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_list_metrics_is_the_contract() -> None:
    proc = run_cli("--list-metrics")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == list(METRICS)


def test_readme_documents_every_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Prometheus metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`((?:node_ipvs|lvstop)_[a-z_]+)`", section))
    assert documented == set(METRICS)


@pytest.mark.skipif(os.path.exists("/proc/net/ip_vs"), reason="this kernel has IPVS")
def test_the_command_keeps_serving_while_ipvs_fails() -> None:
    """On a kernel without IPVS (this host) the ipvs source fails for real: /metrics still
    answers 200, with lvstop_source_up{source="ipvs"} 0."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lvstop",
            "export",
            "--listen",
            f"127.0.0.1:{port}",
            "--interval",
            "0.5",
            "--no-vrrp",
            "--no-keepalived",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                    body = r.read()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        assert body is not None, "the exporter never answered"
        got = samples(body)
        assert got[("lvstop_source_up", (("source", "ipvs"),))] == 0
        assert not [k for k in got if k[0].startswith("node_ipvs_")]
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert "ipvs: " in err and "Traceback" not in err


def test_rendering_ignores_a_stats_free_snapshot() -> None:
    # a snapshot taken before any IPVS table exists renders without node_ipvs backends
    rendered = samples(
        render(ExportSnapshot(time=1.0, sources=UP, ipvs=IpvsSnapshot(), totals=Stats()))
    )
    assert rendered[("node_ipvs_connections_total", ())] == 0
    assert rendered[("lvstop_ipvs_services", ())] == 0


# -- render (the fast writer) is generate_latest's output, byte for byte -----------------------

HOSTILE = ('a"b', "back\\slash", "new\nline", "ünïcode", "", '{x="1"}', "\\n")


def keepalived_views() -> Iterator[tuple[IpvsSnapshot, KeepalivedView]]:
    """Views from the lab's recorded keepalived scenarios (config × dumps × kernel)."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from test_drift import LAB, load

    from lvstop.track.drift import compute_drift

    for d in sorted(p for p in LAB.iterdir() if (p / "keepalived.conf").exists()):
        config, ipvs, runtime = load(d.name)
        drift = compute_drift(config, ipvs, runtime, {}, ())
        yield (
            ipvs,
            KeepalivedView(
                running=True, instances=runtime and runtime.instances, state_time=0.5, drift=drift
            ),
        )


def render_cases() -> Iterator[tuple[ExportSnapshot, tuple[str, ...]]]:
    table = recorded_table()
    two = IpvsSnapshot.from_dict(
        json.loads((DATA / "ipvs" / "table-seed2.json").read_text())["snapshot"]
    )
    for ipvs in (table, two, IpvsSnapshot()):
        rates = {
            rs.key: Rates(i / 3, i * 1e7 + 0.5, 0.0, 1e22 / (i + 1), float(i))
            for i, (_s, rs) in enumerate(ipvs.real_servers())
        }
        for labels in (
            "",
            "proto",
            "local_address,remote_address,proto,local_mark",
            ",".join(BACKEND_LABELS),
        ):
            yield (
                ExportSnapshot(time=1.5, sources=UP, ipvs=ipvs, totals=Stats(conns=7), rates=rates),
                parse_backend_labels(labels),
            )
    for pcap in sorted((DATA / "vrrp").glob("*.pcap")):
        vrrp, bogus = vrrp_snapshot(pcap.name)
        yield (
            ExportSnapshot(time=vrrp.time, sources=UP, vrrp=vrrp, bogus_by_check=bogus),
            BACKEND_LABELS,
        )
        # label values from the wire and from configs are untrusted text
        for text in HOSTILE:
            odd = replace(vrrp, vrids=tuple(replace(v, interface=text) for v in vrrp.vrids))
            yield ExportSnapshot(time=vrrp.time, sources=UP, vrrp=odd), BACKEND_LABELS
    for ipvs, view in keepalived_views():
        yield ExportSnapshot(time=2.0, sources=UP, ipvs=ipvs, keepalived=view), BACKEND_LABELS
        for text in HOSTILE if view.instances else ():
            odd_view = replace(
                view,
                instances=tuple(
                    replace(inst, name=text + inst.name) for inst in view.instances or ()
                ),
            )
            yield ExportSnapshot(time=2.0, sources=UP, keepalived=odd_view), BACKEND_LABELS
    yield (
        ExportSnapshot(
            time=3.0,
            sources=(
                SourceStatus("ipvs", False, "down", None, 1e-7),
                SourceStatus("vrrp", True, "", 1.7e9, 123456789.0),
            ),
        ),
        BACKEND_LABELS,
    )


def test_render_is_generate_latest_byte_for_byte() -> None:
    from lvstop.export.metrics import render_reference

    cases = keepalived = 0
    escaped: set[bytes] = set()
    for snap, labels in render_cases():
        fast, plain = render(snap, labels), render_reference(snap, labels)
        assert fast == plain, (snap.time, labels)
        cases += 1
        keepalived += b"lvstop_keepalived_real_server_verdict{" in fast
        escaped.update(e for e in (b"\\n", b'\\"', b"\\\\") if e in fast)
    assert cases >= 30 and keepalived >= 2 and len(escaped) == 3


def test_hostile_label_values_are_escaped() -> None:
    vrrp, _ = vrrp_snapshot("lab_kill9_failover_gap_then_preempt.pcap")
    odd = replace(vrrp, vrids=tuple(replace(v, interface='x"}\nevil{a="') for v in vrrp.vrids))
    text = render(ExportSnapshot(time=1.0, sources=UP, vrrp=odd)).decode()
    got = samples(text)
    assert any(dict(k).get("interface") == 'x"}\nevil{a="' for _n, k in got)
    assert not [line for line in text.splitlines() if line.startswith("evil")]
