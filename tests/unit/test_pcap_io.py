"""The pure-Python pcap/pcapng reader and writer, checked against scapy's writers/readers and
tcpdump (installed: it is the peer tool) on the same files."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from scapy.compat import raw
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.utils import PcapNgWriter, PcapWriter, rdpcap

from lvstop.model.vrrp import Advert
from lvstop.sources.pcap import (
    PcapError,
    PcapReader,
    encode_advert,
    read_adverts,
    write_adverts,
)
from lvstop.sources.pcap import (
    PcapWriter as OurWriter,
)
from lvstop.sources.vrrp_decode import LINKTYPE_ETHERNET, LINKTYPE_RAW, decode_ip

DATA = Path(__file__).resolve().parents[1] / "data" / "vrrp"


def frames(n: int = 5) -> list[Any]:
    """scapy packets (its classes are not annotated)."""
    out = []
    for i in range(n):
        p = (
            Ether(src="02:00:00:00:00:5a", dst="01:00:5e:00:00:12")
            / IP(src="10.0.5.90", dst="224.0.0.18", ttl=255)
            / VRRP(
                vrid=51,
                priority=100 - i,
                addrlist=["10.0.5.96"],
                authtype=1,
                auth1=int.from_bytes(b"1111", "big"),
            )
        )
        p.time = 1700000000 + i + 0.123456
        out.append(p)
    return out


def test_reads_scapy_pcap_with_times(tmp_path: Path) -> None:
    path = tmp_path / "a.pcap"
    pkts = frames()
    with PcapWriter(str(path)) as w:
        for p in pkts:
            w.write(p)
    reader = PcapReader(path)
    got = list(reader)
    assert reader.format == "pcap" and reader.warnings == []
    assert [g.data for g in got] == [raw(p) for p in pkts]
    assert [g.linktype for g in got] == [LINKTYPE_ETHERNET] * 5
    assert [round(g.time, 6) for g in got] == [round(float(p.time), 6) for p in pkts]
    adverts = list(read_adverts(PcapReader(path)))
    assert [a.priority for a in adverts] == [100, 99, 98, 97, 96]
    assert adverts[0].time == pytest.approx(1700000000.123456)


def test_reads_pcapng_with_interface_name_and_resolution(tmp_path: Path) -> None:
    path = tmp_path / "a.pcapng"
    pkts = frames(3)
    for p in pkts:
        p.sniffed_on = "eth7"
    with PcapNgWriter(str(path)) as w:
        for p in pkts:
            w.write(p)
    reader = PcapReader(path)
    got = list(reader)
    assert reader.format == "pcapng"
    assert [g.data for g in got] == [raw(p) for p in pkts]
    assert [round(g.time, 6) for g in got] == [round(float(p.time), 6) for p in pkts]
    adverts = list(read_adverts(PcapReader(path)))
    assert len(adverts) == 3 and all(a.interface in ("eth7", None) for a in adverts)


def _ng_block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def test_pcapng_handmade_nanosecond_resolution_and_name() -> None:
    pkt = raw(IP(src="10.0.5.90", dst="224.0.0.18", ttl=255) / VRRPv3(vrid=9, addrlist=["1.2.3.4"]))
    shb = _ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = struct.pack("<HH", 2, 4) + b"eth9" + struct.pack("<HHB3x", 9, 1, 9) + b"\0" * 4
    idb = _ng_block(1, struct.pack("<HHI", LINKTYPE_RAW, 0, 65535) + opts)
    ts = 1700000000_123456789
    epb = _ng_block(
        6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(pkt), len(pkt)) + pkt
    )
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pcapng") as f:
        f.write(shb + idb + epb)
        f.flush()
        (a,) = list(read_adverts(PcapReader(f.name)))
    assert a.interface == "eth9" and a.vrid == 9
    assert a.time == pytest.approx(1700000000.123456789, abs=1e-6)


def test_big_endian_and_nanosecond_pcap(tmp_path: Path) -> None:
    pkt = raw(IP(src="10.0.5.90", dst="224.0.0.18", ttl=255) / VRRP(vrid=7, addrlist=["1.2.3.4"]))
    head = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, LINKTYPE_RAW)
    rec = struct.pack(">IIII", 1700000001, 500_000_000, len(pkt), len(pkt)) + pkt
    path = tmp_path / "be.pcap"
    path.write_bytes(head + rec)
    (a,) = list(read_adverts(PcapReader(path)))
    assert a.vrid == 7 and a.time == 1700000001.5


def test_truncated_file_keeps_what_was_read_and_warns(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter(str(path)) as w:
        for p in frames(3):
            w.write(p)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    reader = PcapReader(path)
    assert len(list(reader)) == 2
    assert len(reader.warnings) == 1 and "truncated packet #3" in reader.warnings[0]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "too short"),
        (b"hello world, not a capture", "not a pcap or pcapng file"),
        (struct.pack("<I", 0xA1B2C3D4) + b"\0" * 4, "truncated pcap header"),
    ],
)
def test_not_a_capture_is_one_line_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError, match=message):
        PcapReader(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="no such file"):
        PcapReader(tmp_path / "nope.pcap")
    with pytest.raises(PcapError, match="is a directory"):
        PcapReader(tmp_path)


def adverts_sample() -> list[Advert]:
    return [
        Advert(
            time=1700000000.25,
            interface="eth0",
            family="inet",
            src="10.0.5.90",
            src_mac="02:00:0a:00:05:5a",
            dst="224.0.0.18",
            ttl=255,
            version=2,
            vrid=51,
            priority=100,
            interval_ms=1000,
            auth_type="simple",
            auth_data=b"1111\0\0\0\0",
            addresses=("10.0.5.96",),
        ),
        Advert(
            time=1700000001.5,
            interface="eth0",
            family="inet",
            src="10.0.5.93",
            src_mac="02:00:0a:00:05:5d",
            dst="224.0.0.18",
            ttl=255,
            version=3,
            vrid=52,
            priority=101,
            interval_ms=1500,
            auth_type=None,
            addresses=("10.0.5.97", "10.0.5.98"),
        ),
        Advert(
            time=1700000002.75,
            interface="eth0",
            family="inet6",
            src="fe80::5d",
            src_mac=None,
            dst="ff02::12",
            ttl=255,
            version=3,
            vrid=52,
            priority=0,
            interval_ms=100,
            auth_type=None,
            addresses=("2001:db8::97",),
        ),
        Advert(
            time=1700000003.0,
            interface="eth0",
            family="inet",
            src="10.0.5.99",
            ttl=64,
            vrid=51,
            valid=False,
            error="ttl",
        ),
    ]


def test_incident_snapshot_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "incident.pcap"
    src = adverts_sample()
    assert write_adverts(path, src) == 3  # the bogus one cannot be rebuilt
    back = list(read_adverts(PcapReader(path)))
    for a, b in zip(src[:3], back, strict=True):
        assert b.valid, b
        assert b.time == pytest.approx(a.time, abs=1e-6)
        assert (
            b.src,
            b.src_mac,
            b.version,
            b.vrid,
            b.priority,
            b.interval_ms,
            b.auth_type,
            b.addresses,
            b.auth_data,
        ) == (
            a.src,
            a.src_mac,
            a.version,
            a.vrid,
            a.priority,
            a.interval_ms,
            a.auth_type,
            a.addresses,
            a.auth_data,
        )


def test_written_pcap_is_read_by_scapy_and_tcpdump(tmp_path: Path) -> None:
    path = tmp_path / "incident.pcap"
    write_adverts(path, adverts_sample())
    pkts = rdpcap(str(path))
    assert len(pkts) == 3
    assert pkts[0][VRRP].vrid == 51 and pkts[1][VRRPv3].priority == 101
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not installed")
    out = subprocess.run(
        ["tcpdump", "-nn", "-v", "-r", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert "vrid 51, prio 100" in out and "vrid 52, prio 101" in out
    assert "bad" not in out  # IP header checksums are right


def test_encoded_checksums_pass_our_decoder_and_scapy() -> None:
    for a in adverts_sample()[:3]:
        packet = encode_advert(a)
        again = decode_ip(packet, a.time)
        assert again is not None and again.valid, again
        if a.family == "inet":
            parsed = IP(packet)
            layer = parsed[VRRP] if a.version == 2 else parsed[VRRPv3]
            stored = layer.chksum
            del layer.chksum
            assert IP(raw(parsed))[layer.__class__].chksum == stored


def test_writer_accepts_a_file_object(tmp_path: Path) -> None:
    path = tmp_path / "o.pcap"
    pkt = encode_advert(adverts_sample()[0])
    with path.open("wb") as f, OurWriter(f, LINKTYPE_RAW) as w:
        w.write(5.5, pkt)
    (p,) = list(PcapReader(path))
    assert (p.time, p.data, p.linktype) == (5.5, pkt, LINKTYPE_RAW)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.pcap")))
def test_lab_captures_match_tcpdump_packet_count(name: str) -> None:
    """Every packet tcpdump lists in a capture recorded in the lab is an advert for us."""
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not installed")
    out = subprocess.run(
        ["tcpdump", "-nn", "-r", str(DATA / name)], capture_output=True, text=True, check=True
    ).stdout
    lines = [line for line in out.splitlines() if "VRRP" in line]
    adverts = list(read_adverts(PcapReader(DATA / name)))
    assert len(adverts) == len(lines) > 0
    for line, a in zip(lines, adverts, strict=True):
        assert f"{a.src} > {a.dst}" in line and f"vrid {a.vrid}, prio {a.priority}" in line
