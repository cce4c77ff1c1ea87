"""The struct decoder against golden packets built with scapy (an independent encoder), every
bogus check in its order, and hypothesis fuzzing: never an exception, always a decision."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, in6_chksum
from scapy.layers.ipsec import AH
from scapy.layers.l2 import CookedLinux, Dot1Q, Ether
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Packet

from lvstop.model.vrrp import BOGUS_CHECKS, Advert
from lvstop.sources.vrrp_decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    decode_frame,
    decode_ip,
)

MAC = "02:00:0a:00:05:5a"


def v2(
    vrid: int = 51,
    prio: int = 100,
    addrs: tuple[str, ...] = ("10.0.5.96",),
    authtype: int = 1,
    auth: bytes = b"1111",
    adv: int = 1,
    **ip: object,
) -> Packet:
    a1 = int.from_bytes(auth[:4].ljust(4, b"\0"), "big")
    a2 = int.from_bytes(auth[4:8].ljust(4, b"\0"), "big")
    return IP(
        src=ip.get("src", "10.0.5.90"), dst=ip.get("dst", "224.0.0.18"), ttl=ip.get("ttl", 255)
    ) / VRRP(
        vrid=vrid,
        priority=prio,
        ipcount=len(addrs),
        addrlist=list(addrs),
        authtype=authtype,
        adv=adv,
        auth1=a1,
        auth2=a2,
    )


def v3(
    vrid: int = 52,
    prio: int = 101,
    addrs: tuple[str, ...] = ("10.0.5.97",),
    adv: int = 100,
    **ip: object,
) -> Packet:
    return IP(
        src=ip.get("src", "10.0.5.93"), dst=ip.get("dst", "224.0.0.18"), ttl=ip.get("ttl", 255)
    ) / VRRPv3(vrid=vrid, priority=prio, ipcount=len(addrs), addrlist=list(addrs), adv=adv)


def v3_6(
    vrid: int = 52,
    prio: int = 101,
    addrs: tuple[str, ...] = ("2001:db8::97",),
    adv: int = 100,
    hlim: int = 255,
) -> Packet:
    return IPv6(src="fe80::5d", dst="ff02::12", hlim=hlim) / VRRPv3(
        vrid=vrid, priority=prio, ipcount=len(addrs), addrlist=list(addrs), adv=adv
    )


# --- golden packets ----------------------------------------------------------------------------


def test_v2_simple_auth_ethernet() -> None:
    a = decode_frame(
        LINKTYPE_ETHERNET,
        raw(Ether(src=MAC, dst="01:00:5e:00:00:12") / v2()),
        1700000000.25,
        "eth0",
    )
    assert a is not None and a.valid and a.error is None
    assert (a.time, a.interface, a.family, a.src, a.src_mac, a.dst, a.ttl) == (
        1700000000.25,
        "eth0",
        "inet",
        "10.0.5.90",
        MAC,
        "224.0.0.18",
        255,
    )
    assert (a.version, a.vrid, a.priority, a.interval_ms) == (2, 51, 100, 1000)
    assert (a.auth_type, a.auth_text, a.addresses) == ("simple", "1111", ("10.0.5.96",))


def test_v2_no_auth_and_several_addresses_and_interval() -> None:
    a = decode_ip(
        raw(v2(authtype=0, auth=b"", adv=3, addrs=("10.0.5.96", "10.0.5.97", "192.0.2.1"))), 1.0
    )
    assert a is not None and a.valid
    assert a.auth_type == "none" and a.auth_data == b""
    assert a.interval_ms == 3000
    assert a.addresses == ("10.0.5.96", "10.0.5.97", "192.0.2.1")


def test_v2_ah_auth_behind_ah_header() -> None:
    pkt = (
        IP(src="10.0.5.90", dst="224.0.0.18", ttl=255)
        / AH(nh=112, payloadlen=4, spi=0x100, seq=7, icv=b"\x11" * 12)
        / VRRP(vrid=51, priority=100, addrlist=["10.0.5.96"], authtype=2)
    )
    a = decode_ip(raw(pkt), 1.0)
    assert a is not None and a.valid, a
    assert (a.vrid, a.priority, a.auth_type, a.addresses) == (51, 100, "ah", ("10.0.5.96",))


def test_ah_carrying_something_else_is_not_vrrp() -> None:
    pkt = IP(src="10.0.5.90", dst="10.0.5.91") / AH(nh=17, payloadlen=4, icv=b"\0" * 12) / UDP()
    assert decode_ip(raw(pkt), 1.0) is None


def test_v2_unknown_auth_type_is_named() -> None:
    a = decode_ip(raw(v2(authtype=7)), 1.0)
    assert a is not None and a.valid and a.auth_type == "unknown-7"


def test_v3_ipv4_centiseconds() -> None:
    a = decode_ip(raw(v3(adv=150, addrs=("10.0.5.97", "10.0.5.98"))), 2.0)
    assert a is not None and a.valid, a
    assert (a.version, a.vrid, a.priority, a.interval_ms, a.auth_type) == (3, 52, 101, 1500, None)
    assert a.addresses == ("10.0.5.97", "10.0.5.98")


def test_v3_ipv6() -> None:
    a = decode_frame(
        LINKTYPE_ETHERNET, raw(Ether(src=MAC) / v3_6(addrs=("2001:db8::97", "fe80::97"))), 3.0
    )
    assert a is not None and a.valid, a
    assert (a.family, a.src, a.dst, a.ttl) == ("inet6", "fe80::5d", "ff02::12", 255)
    assert a.addresses == ("2001:db8::97", "fe80::97") and a.interval_ms == 1000


def test_unicast_advert() -> None:
    a = decode_ip(raw(v3(dst="10.0.5.90")), 1.0)
    assert a is not None and a.valid and a.dst == "10.0.5.90"


@pytest.mark.parametrize(
    "linktype,frame",
    [
        (LINKTYPE_ETHERNET, lambda p: raw(Ether(src=MAC) / Dot1Q(vlan=7) / p)),
        (
            LINKTYPE_ETHERNET,
            lambda p: raw(Ether(src=MAC, type=0x88A8) / Dot1Q(vlan=7) / Dot1Q(vlan=8) / p),
        ),
        (
            LINKTYPE_LINUX_SLL,
            lambda p: raw(
                CookedLinux(
                    pkttype=0,
                    lladdrtype=1,
                    lladdrlen=6,
                    src=bytes.fromhex(MAC.replace(":", "")) + b"\0\0",
                    proto=0x0800,
                )
                / p
            ),
        ),
        (
            LINKTYPE_LINUX_SLL2,
            lambda p: (
                struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, bytes.fromhex(MAC.replace(":", "")))
                + raw(p)
            ),
        ),
        (LINKTYPE_RAW, lambda p: raw(p)),
        (LINKTYPE_NULL, lambda p: struct.pack("<I", 2) + raw(p)),
    ],
)
def test_link_types(linktype: int, frame: Callable[[Packet], bytes]) -> None:
    a = decode_frame(linktype, frame(v2()), 5.0, None)
    assert a is not None and a.valid and a.vrid == 51
    if linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        assert a.src_mac == MAC


def test_ethernet_padding_is_ignored() -> None:
    # A 40-byte IP packet in a 60-byte Ethernet frame: the IP total length decides.
    frame = raw(Ether(src=MAC) / v2()) + b"\x00" * 6
    a = decode_frame(LINKTYPE_ETHERNET, frame, 1.0)
    assert a is not None and a.valid


def test_not_vrrp() -> None:
    assert decode_ip(raw(IP(src="10.0.5.90", dst="10.0.5.91") / UDP()), 1.0) is None
    assert decode_frame(LINKTYPE_ETHERNET, raw(Ether(type=0x0806) / (b"\0" * 28)), 1.0) is None
    assert decode_frame(9999, raw(v2()), 1.0) is None
    assert decode_ip(b"", 1.0) is None


@pytest.mark.parametrize("version,adv", [(2, 1), (2, 5), (3, 100), (3, 35), (3, 4095)])
@pytest.mark.parametrize("prio", [0, 1, 100, 255])
def test_agrees_with_scapy_dissector(version: int, adv: int, prio: int) -> None:
    pkt = v2(prio=prio, adv=adv) if version == 2 else v3(prio=prio, adv=adv)
    parsed = IP(raw(pkt))
    layer = parsed[VRRP] if version == 2 else parsed[VRRPv3]
    a = decode_ip(raw(pkt), 1.0)
    assert a is not None and a.valid
    assert (a.vrid, a.priority, a.addresses) == (layer.vrid, layer.priority, tuple(layer.addrlist))
    assert a.interval_ms == (layer.adv * 1000 if version == 2 else layer.adv * 10)


# --- bogus checks, in order ---------------------------------------------------------------------


def _ip(payload: bytes, ttl: int = 255, proto: int = 112) -> bytes:
    return raw(IP(src="10.0.5.90", dst="224.0.0.18", ttl=ttl, proto=proto) / payload)


def _fix_v2_checksum(vrrp: bytearray) -> bytes:
    vrrp[6:8] = b"\0\0"
    data = bytes(vrrp) + (b"\0" if len(vrrp) % 2 else b"")
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    vrrp[6:8] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(vrrp)


GOOD = bytearray(raw(v2()[VRRP]))


def _bogus(payload: bytes, ttl: int = 255) -> Advert:
    a = decode_ip(_ip(payload, ttl), 1.0)
    assert a is not None and not a.valid
    return a


def test_bogus_truncated() -> None:
    a = _bogus(bytes(GOOD[:7]))
    assert a.error == "truncated" and a.vrid is None and a.src == "10.0.5.90"


def test_bogus_version_beats_later_checks() -> None:
    p = bytearray(GOOD)
    p[0] = 0x41  # version 4, and a wrong checksum and ttl too
    assert _bogus(bytes(p), ttl=64).error == "version"


def test_bogus_version_2_over_ipv6() -> None:
    pkt = IPv6(src="fe80::5d", dst="ff02::12", hlim=255, nh=112) / raw(v2()[VRRP])
    a = decode_ip(raw(pkt), 1.0)
    assert a is not None and a.error == "version"


def test_bogus_type() -> None:
    p = bytearray(GOOD)
    p[0] = 0x22
    assert _bogus(_fix_v2_checksum(p), ttl=64).error == "type"


def test_bogus_count() -> None:
    p = bytearray(GOOD)
    p[3] = 2  # two addresses announced, one present
    a = _bogus(_fix_v2_checksum(p))
    assert a.error == "count" and a.vrid == 51 and a.priority == 100


def test_bogus_count_v3_ipv6() -> None:
    pkt = v3_6()
    data = bytearray(raw(pkt))
    data[40 + 3] = 3
    a = decode_ip(bytes(data), 1.0)
    assert a is not None and a.error == "count"


def test_bogus_checksum_v2() -> None:
    p = bytearray(GOOD)
    p[2] = 200  # priority changed, checksum not
    assert _bogus(bytes(p), ttl=1).error == "checksum"


def test_bogus_checksum_v3_uses_pseudo_header() -> None:
    # The same VRRPv3 bytes are valid from 10.0.5.93 but not from another source: the
    # checksum covers the IP pseudo-header (RFC 5798 5.2.8).
    pkt = raw(v3())
    spoofed = bytearray(pkt)
    spoofed[12:16] = bytes([10, 0, 5, 94])
    spoofed[10:12] = b"\0\0"
    assert decode_ip(pkt, 1.0).valid  # type: ignore[union-attr]
    a = decode_ip(bytes(spoofed), 1.0)
    assert a is not None and a.error == "checksum"


def test_bogus_checksum_v3_ipv6() -> None:
    pkt = v3_6()
    data = bytearray(raw(pkt))
    assert in6_chksum(112, pkt[IPv6], raw(pkt[VRRPv3])) in (0, 0xFFFF)  # type: ignore[no-untyped-call]  # scapy's in6_chksum has no annotations
    data[-1] ^= 0x01
    a = decode_ip(bytes(data), 1.0)
    assert a is not None and a.error == "checksum"


def test_bogus_ttl() -> None:
    a = _bogus(bytes(GOOD), ttl=254)
    assert (a.error, a.ttl, a.vrid) == ("ttl", 254, 51)


def test_bogus_hop_limit() -> None:
    a = decode_ip(raw(v3_6(hlim=1)), 1.0)
    assert a is not None and a.error == "ttl"


def test_all_zero_vrrp_is_bogus_not_valid() -> None:
    assert _bogus(b"\0" * 20).error == "version"


def test_bogus_checks_are_the_documented_ones() -> None:
    assert BOGUS_CHECKS == ("truncated", "version", "type", "count", "checksum", "ttl")


# --- fuzzing ------------------------------------------------------------------------------------

GOLDEN = [
    raw(v2()),
    raw(v2(authtype=0)),
    raw(v3()),
    raw(v3_6()),
    raw(
        IP(src="10.0.5.90", dst="224.0.0.18", ttl=255)
        / AH(nh=112, payloadlen=4, icv=b"\0" * 12)
        / VRRP(vrid=51, addrlist=["10.0.5.96"], authtype=2)
    ),
]


def _check(result: Advert | None) -> None:
    if result is None:
        return
    if result.valid:
        assert result.error is None
        assert result.version in (2, 3) and result.vrid is not None
        assert result.ttl == 255
        assert result.interval_ms is not None and result.interval_ms >= 0
    else:
        assert result.error in BOGUS_CHECKS


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_fuzz_random_ip_bytes(data: bytes) -> None:
    _check(decode_ip(data, 1.0, "eth0"))


@settings(max_examples=1500)
@given(st.sampled_from([0, 1, 101, 113, 228, 229, 276, 12345]), st.binary(max_size=120))
def test_fuzz_random_frames(linktype: int, data: bytes) -> None:
    _check(decode_frame(linktype, data, 1.0))


@settings(max_examples=4000)
@given(
    st.sampled_from(GOLDEN),
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=6),
    st.integers(0, 200),
)
def test_fuzz_mutated_golden(packet: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(packet)
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    result = decode_ip(bytes(data[: max(cut, 1)] if cut < len(data) else data), 1.0)
    _check(result)


@settings(max_examples=500)
@given(st.sampled_from(GOLDEN), st.integers(0, 60))
def test_fuzz_truncations_decide(packet: bytes, cut: int) -> None:
    """Any prefix of a valid packet that is still a VRRP IP packet is bogus, never valid."""
    data = packet[: len(packet) - 1 - cut] if cut < len(packet) - 1 else packet[:1]
    result = decode_ip(data, 1.0)
    if result is not None:
        # IP's total length still says the full size: the VRRP message is shorter than claimed
        assert not result.valid or len(data) == len(packet)
