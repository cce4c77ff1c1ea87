"""`lvstop vrrp` as a process: pcaps recorded in the lab replay to the events the live run
printed, the exact --json schema, auth masking, summaries, one-line errors, and the live path
on loopback in a private network namespace (no packet leaves it)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "vrrp"
LAB_RUNS = sorted(p.stem for p in DATA.glob("lab_*.pcap") if p.with_suffix(".jsonl").exists())

ADVERT_KEYS = [
    "type",
    "time",
    "interface",
    "family",
    "src",
    "ttl",
    "version",
    "vrid",
    "priority",
    "interval_ms",
    "auth_type",
    "addresses",
    "valid",
    "error",
]
EVENT_KEYS = [
    "type",
    "time",
    "kind",
    "family",
    "vrid",
    "interface",
    "master",
    "previous",
    "gap_ms",
    "sources",
    "fields",
    "error",
    "detail",
]


def lvstop(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lvstop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
        env=env,
    )


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def same_events(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal but for gaps within a millisecond: packet sockets may stamp a packet a few µs
    apart (a packet that crossed a netns has its timestamp cleared and is stamped again)."""
    return len(a) == len(b) and all(
        x[:-1] == y[:-1]
        and (x[-1] is None) == (y[-1] is None)
        and (x[-1] is None or abs(x[-1] - y[-1]) < 1.0)
        for x, y in zip(a, b, strict=True)
    )


def comparable(records: list[dict[str, Any]], start: float, end: float) -> list[tuple[Any, ...]]:
    return [
        (
            r["kind"],
            r["vrid"],
            r["master"],
            r["previous"],
            tuple(r["sources"]),
            tuple(r["fields"]),
            r["gap_ms"],
        )
        for r in records
        if r["type"] == "event"
        and start <= r["time"] <= end
        and r["kind"] != "host_mismatch"
        # a capture started earlier sees each VRID's first master earlier: skip those
        and not (r["kind"] == "master" and r["previous"] is None)
    ]


@pytest.mark.parametrize("run", LAB_RUNS)
def test_lab_pcap_replays_to_the_live_events(run: str) -> None:
    """tcpdump's capture of a lab run, read with --pcap, gives the events `lvstop vrrp` printed
    live in the same run (recorded by tests/lab/test_vrrp_lab.py)."""
    live = jsonl((DATA / f"{run}.jsonl").read_text())
    offline = jsonl(lvstop("vrrp", "--json", "--pcap", str(DATA / f"{run}.pcap")).stdout)
    la = [r for r in live if r["type"] == "advert"]
    oa = [r for r in offline if r["type"] == "advert"]
    start = max(la[0]["time"], oa[0]["time"]) - 1e-3
    end = min(la[-1]["time"], oa[-1]["time"]) + 1e-3
    assert [(r["src"], r["vrid"], r["priority"]) for r in la if start <= r["time"] <= end] == [
        (r["src"], r["vrid"], r["priority"]) for r in oa if start <= r["time"] <= end
    ]
    live_events = comparable(live, start, end)
    assert same_events(live_events, comparable(offline, start, end))
    assert live_events, "the recording has events besides the first masters"


def test_kill9_recording_says_failover_with_master_down_gap() -> None:
    out = jsonl(
        lvstop(
            "vrrp", "--json", "--pcap", str(DATA / "lab_kill9_failover_gap_then_preempt.pcap")
        ).stdout
    )
    events = [
        (e["kind"], e["vrid"], e["master"], e["previous"]) for e in out if e["type"] == "event"
    ]
    assert sorted(events[:2]) == [
        ("master", 51, "10.0.5.90", None),
        ("master", 52, "10.0.5.93", None),
    ]
    assert events[2:] == [
        ("failover", 51, "10.0.5.93", "10.0.5.90"),
        ("preempt", 51, "10.0.5.90", "10.0.5.93"),
    ]
    failover = next(e for e in out if e["type"] == "event" and e["kind"] == "failover")
    assert 3900 < failover["gap_ms"] < 4300  # 3 × 1 s + (256 - 10)/256 s


def test_keepalived_vrrpv3_recording_ipv6_and_centiseconds() -> None:
    """Two real keepalived 2.2.7 in VRRPv3 (tests/lab/test_vrrp_lab.py::
    test_vrrpv3_ipv6_and_centiseconds): VRID 61 over IPv6 from link-local sources, VRID 62
    over IPv4 at 50 centiseconds; the master stopped, the backup (priority 50) took over
    after its RFC 5798 skew time ((256 − 50) × interval / 256)."""
    out = jsonl(
        lvstop(
            "vrrp", "--json", "--pcap", str(DATA / "lab_vrrpv3_ipv6_and_centiseconds.pcap")
        ).stdout
    )
    adverts = [r for r in out if r["type"] == "advert"]
    v61 = {
        (
            r["family"],
            r["version"],
            r["interval_ms"],
            tuple(r["addresses"]),
            r["dst"],
            r["ttl"],
            r["auth_type"],
            r["valid"],
        )
        for r in adverts
        if r["vrid"] == 61
    }
    assert v61 == {("inet6", 3, 1000, ("fd00:5::96",), "ff02::12", 255, None, True)}
    assert all(r["src"].startswith("fe80:") for r in adverts if r["vrid"] == 61)
    v62 = {
        (r["family"], r["version"], r["interval_ms"], tuple(r["addresses"]), r["dst"], r["valid"])
        for r in adverts
        if r["vrid"] == 62
    }
    assert v62 == {("inet", 3, 500, ("10.0.6.62",), "224.0.0.18", True)}
    times = [
        r["time"]
        for r in adverts
        if r["vrid"] == 62 and r["src"] == "10.0.6.1" and r["priority"] == 100
    ]
    assert all(0.45 < b - a < 0.55 for a, b in itertools.pairwise(times))
    assert len(times) >= 5
    events = [(e["kind"], e["vrid"], e["family"]) for e in out if e["type"] == "event"]
    assert events == [
        ("master", 62, "inet"),
        ("master", 61, "inet6"),
        ("resign", 61, "inet6"),
        ("resign", 62, "inet"),
        ("failover", 62, "inet"),
        ("failover", 61, "inet6"),
    ]
    gaps = {e["vrid"]: e["gap_ms"] for e in out if e["type"] == "event" and e["kind"] == "failover"}
    assert gaps[61] == pytest.approx((256 - 50) * 1000 / 256, abs=25)
    assert gaps[62] == pytest.approx((256 - 50) * 500 / 256, abs=25)


def test_json_schema_is_exact_and_auth_masked() -> None:
    out = jsonl(
        lvstop(
            "vrrp", "--json", "--pcap", str(DATA / "lab_stop_keepalived_resign_then_failover.pcap")
        ).stdout
    )
    advert = next(r for r in out if r["type"] == "advert")
    event = next(r for r in out if r["type"] == "event")
    assert list(advert)[: len(ADVERT_KEYS)] == ADVERT_KEYS
    assert list(event) == EVENT_KEYS
    assert advert["family"] == "inet" and advert["auth_type"] == "simple"
    assert advert["interface"] is None and advert["valid"] is True and advert["error"] is None
    assert isinstance(advert["time"], float) and advert["ttl"] == 255
    assert advert["auth"] == "***"
    text = "\n".join(json.dumps(r) for r in out)
    assert "1111" not in text  # the lab's auth_pass


def test_show_auth_reveals_the_password() -> None:
    out = lvstop(
        "vrrp", "--show-auth", "--pcap", str(DATA / "lab_stop_keepalived_resign_then_failover.pcap")
    ).stdout
    assert 'auth simple "1111"' in out
    out = lvstop(
        "vrrp", "--pcap", str(DATA / "lab_stop_keepalived_resign_then_failover.pcap")
    ).stdout
    assert 'auth simple "***"' in out and "1111" not in out


def test_text_lines_events_and_summary() -> None:
    out = lvstop(
        "vrrp", "--pcap", str(DATA / "lab_vrrp_cut_split_brain_and_cleared.pcap")
    ).stdout.splitlines()
    adverts = [line for line in out if " VRRPv2 vrid " in line]
    assert adverts and all(
        line.endswith(("master 10.0.5.90", "master 10.0.5.93")) for line in adverts
    )
    assert any("*** SPLIT_BRAIN: VRID 51" in line for line in out)
    assert any("*** SPLIT_BRAIN_CLEARED: VRID 51" in line for line in out)
    summary = out[out.index(next(line for line in out if line.startswith("VRID 51 "))) :]
    assert summary[0] == "VRID 51 (inet): master 10.0.5.90 (priority 100)"
    assert "split brain: " in summary[2] and "bogus: 0" in summary[2]


def test_duration_limits_a_pcap_to_its_first_seconds() -> None:
    full = jsonl(
        lvstop(
            "vrrp", "--json", "--pcap", str(DATA / "lab_kill9_failover_gap_then_preempt.pcap")
        ).stdout
    )
    short = jsonl(
        lvstop(
            "vrrp",
            "--json",
            "--duration",
            "2",
            "--pcap",
            str(DATA / "lab_kill9_failover_gap_then_preempt.pcap"),
        ).stdout
    )
    fa = [r for r in full if r["type"] == "advert"]
    sa = [r for r in short if r["type"] == "advert"]
    assert 0 < len(sa) < len(fa)
    assert sa[-1]["time"] - sa[0]["time"] <= 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--pcap", "/nonexistent.pcap"], "lvstop: /nonexistent.pcap: no such file"),
        (["--pcap", __file__], "not a pcap or pcapng file"),
        (["--pcap", "x.pcap", "--iface", "eth0"], "lvstop: --iface and --pcap exclude each other"),
        (["--duration", "-1"], "lvstop: --duration must be a positive number of seconds"),
        (["--iface", "nosuch0", "--duration", "0.1"], "lvstop: no such interface: nosuch0"),
    ],
)
def test_one_line_errors(args: list[str], message: str) -> None:
    proc = lvstop("vrrp", *args, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_damaged_pcap_warns_and_still_summarises(tmp_path: Path) -> None:
    data = (DATA / "lab_rogue_router_conflict.pcap").read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:-7])
    proc = lvstop("vrrp", "--pcap", str(path))
    assert "lvstop: warning:" in proc.stderr and "truncated packet" in proc.stderr
    assert "VRID 51 (inet)" in proc.stdout


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop the capability")
def test_without_cap_net_raw_one_line() -> None:
    proc = subprocess.run(
        [
            "setpriv",
            "--bounding-set",
            "-net_raw",
            "--inh-caps",
            "-net_raw",
            sys.executable,
            "-m",
            "lvstop",
            "vrrp",
            "--duration",
            "0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "lvstop: capturing VRRP needs root or CAP_NET_RAW (or read a capture with --pcap FILE)"
    )


NO_SCAPY = textwrap.dedent("""
    import sys
    from lvstop.cli import main
    rc = main(sys.argv[1:])
    loaded = sorted(m for m in sys.modules if m == "scapy" or m.startswith("scapy."))
    print("SCAPY", loaded, rc, file=sys.stderr)
""")


@pytest.mark.parametrize(
    "args",
    [
        ["vrrp", "--pcap", str(DATA / "lab_rogue_router_conflict.pcap")],
        ["vrrp", "--iface", "lo", "--duration", "0.2"],
    ],
)
def test_scapy_is_never_imported(args: list[str]) -> None:
    if "--iface" in args and os.geteuid() != 0:
        pytest.skip("live capture needs root")
    proc = subprocess.run(
        [sys.executable, "-c", NO_SCAPY, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "SCAPY [] 0" in proc.stderr


SENDER = textwrap.dedent("""
    import socket, struct, sys, time
    from lvstop.model.vrrp import Advert
    from lvstop.sources.pcap import encode_advert
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    def send(src, prio, vrid=51, ttl=255, bad=False):
        pkt = bytearray(encode_advert(Advert(time=0, interface=None, family="inet", src=src,
            dst="127.0.0.1", ttl=ttl, version=2, vrid=vrid, priority=prio, interval_ms=1000,
            auth_type="simple", auth_data=b"pw", addresses=("10.0.5.96",))))
        if bad:
            pkt[-1] ^= 1
        raw.sendto(bytes(pkt), ("127.0.0.1", 0))
    for i in range(3):
        send("127.0.0.2", 100)
        time.sleep(0.05)
    t_resign = time.monotonic()
    send("127.0.0.2", 0)           # resign
    time.sleep(0.3)
    send("127.0.0.3", 10)          # failover after ~0.3 s (longer on a busy machine)
    with open(sys.argv[1], "w") as f:
        f.write(str((time.monotonic() - t_resign) * 1000))
    send("127.0.0.3", 10, ttl=64)  # bogus: ttl
    send("127.0.0.3", 10, bad=True)  # bogus: checksum
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9))  # not VRRP
    # VRRPv3 over IPv6 (the filter's other branch): the kernel fills in the checksum
    raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
    raw6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    raw6.setsockopt(socket.IPPROTO_IPV6, 7, 6)  # IPV6_CHECKSUM at offset 6
    v3 = struct.pack("!BBBBHH", 0x31, 52, 101, 1, 100, 0) + socket.inet_pton(
        socket.AF_INET6, "2001:db8::97")
    raw6.sendto(v3, ("::1", 0))
    # VRRPv2 with IPsec-AH authentication: IP | AH (next header 112) | VRRP (the filter's AH
    # branch); AH itself is not checked, VRRP's checksum is
    vrrp = bytearray(encode_advert(Advert(time=0, interface=None, family="inet",
        src="127.0.0.4", dst="127.0.0.1", ttl=255, version=2, vrid=53, priority=50,
        interval_ms=1000, auth_type="ah", addresses=("127.0.0.1",)))[20:])
    ah = struct.pack("!BBHII", 112, 4, 0, 0x100, 1) + bytes(12)
    raw51 = socket.socket(socket.AF_INET, socket.SOCK_RAW, 51)
    raw51.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 255)
    raw51.sendto(ah + bytes(vrrp), ("127.0.0.1", 0))
""")


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare for a private network namespace",
)
def test_live_capture_on_loopback_in_private_netns(tmp_path: Path) -> None:
    sender = tmp_path / "sender.py"
    sender.write_text(SENDER)
    # No fixed sleeps (a loaded CI machine stretches them): the sender starts once the
    # capture's RX ring is mapped (packets sent before are not in the ring), and the capture
    # is stopped (SIGINT) once the last event due is out: host_mismatch, reported when ::1 has
    # been master for 1.5 advert intervals. --duration is only a backstop.
    out_file = tmp_path / "capture.jsonl"
    wait = (
        "i=0; until grep -qs {what} {where}; do kill -0 $pid || exit 98; i=$((i+1)); "
        "[ $i -lt 6000 ] || {give_up}; sleep 0.01; done; "
    )
    script = (
        "ip link set lo up; "
        f"{sys.executable} -m lvstop vrrp --json --iface lo --duration 90 > {out_file} & pid=$!; "
        + wait.format(what="socket:", where="/proc/$pid/maps", give_up="exit 97")
        + f"{sys.executable} {sender} {tmp_path / 'gap_ms'}; "
        + wait.format(what="host_mismatch", where=out_file, give_up="break")
        + "kill -INT $pid; wait $pid"
    )
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    assert proc.stdout == ""
    out = jsonl(out_file.read_text())
    adverts = [r for r in out if r["type"] == "advert"]
    ah = adverts.pop()
    assert (ah["src"], ah["vrid"], ah["priority"], ah["auth_type"], ah["valid"]) == (
        "127.0.0.1",
        53,
        50,
        "ah",
        True,
    )
    assert [(a["src"], a["priority"], a["valid"], a["error"]) for a in adverts] == [
        ("127.0.0.2", 100, True, None)
    ] * 3 + [
        ("127.0.0.2", 0, True, None),
        ("127.0.0.3", 10, True, None),
        ("127.0.0.3", 10, False, "ttl"),
        ("127.0.0.3", 10, False, "checksum"),
        ("::1", 101, True, None),
    ]
    v6 = adverts[-1]
    assert (v6["family"], v6["version"], v6["vrid"], v6["interval_ms"], v6["addresses"]) == (
        "inet6",
        3,
        52,
        1000,
        ["2001:db8::97"],
    )
    assert all(a["interface"] == "lo" for a in adverts)
    # the three identical packets (decoded once, then repeated) keep their own times
    assert adverts[0]["time"] < adverts[1]["time"] < adverts[2]["time"]
    events = [
        (e["kind"], e["master"], e["previous"], e["error"])
        for e in out
        if e["type"] == "event" and e["vrid"] != 53
    ]
    assert events[:3] == [
        ("master", "127.0.0.2", None, None),
        ("resign", None, "127.0.0.2", None),
        ("failover", "127.0.0.3", "127.0.0.2", None),
    ]
    # ::1 is this host's own address: it is master of VRID 52 without holding the VIP
    assert events[3:] == [
        ("bogus", None, None, "ttl"),
        ("bogus", None, None, "checksum"),
        ("master", "::1", None, None),
        ("host_mismatch", "::1", None, None),
    ]
    mismatch = next(e for e in out if e["type"] == "event" and e["kind"] == "host_mismatch")
    assert mismatch["detail"] == ("VRID 52: this host is master but does not hold 2001:db8::97")
    # 127.0.0.1 is master of VRID 53 and holds its "VIP": no disagreement
    assert [e["kind"] for e in out if e["type"] == "event" and e["vrid"] == 53] == ["master"]
    failover = next(e for e in out if e["type"] == "event" and e["kind"] == "failover")
    # the sender's 0.3 s, plus up to 700 ms of delivery (the sender timed its own sleep)
    assert 250 < failover["gap_ms"] < float((tmp_path / "gap_ms").read_text()) + 700
    capture = next(r for r in out if r["type"] == "capture")
    # loopback: each packet passes the filter leaving and arriving; one copy is decoded
    assert capture["kernel_packets"] == 18 and capture["kernel_drops"] == 0
    assert capture["decoded"] == 9
    summary = next(r for r in out if r["type"] == "summary" and r["family"] == "inet")
    assert summary["master"] == "127.0.0.3" and summary["bogus"] == 2


FLUSH = textwrap.dedent("""
    import asyncio, socket
    from lvstop.model.vrrp import Advert
    from lvstop.sources.pcap import encode_advert
    from lvstop.sources.vrrp_capture import VrrpCapture

    async def main():
        got = []
        cap = VrrpCapture(["lo"], got.append, latency=5.0)
        cap.open()
        cap.start()
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for prio in (100, 0):
            raw.sendto(encode_advert(Advert(time=0, interface=None, family="inet",
                src="127.0.0.2", dst="127.0.0.1", ttl=255, version=2, vrid=51, priority=prio,
                interval_ms=1000, auth_type="simple", auth_data=b"pw",
                addresses=("10.0.5.96",))), ("127.0.0.1", 0))
        await cap.flush(max_wait=30)
        cap.close()
        print([a.priority for a in got])
    asyncio.run(main())
""")


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare for a private network namespace",
)
def test_flush_hands_over_the_ring_block_still_open() -> None:
    """The last packets before a capture stops sit in the ring's open block until its retire
    timeout (here 5 s); flush() waits for the kernel to hand them over, so none is lost."""
    proc = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up; {sys.executable} -c '{FLUSH}'"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stdout.strip() == "[100, 0]"
