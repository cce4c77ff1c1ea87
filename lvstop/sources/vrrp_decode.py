"""Bytes → ``Advert``: decode and validate VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798).

A plain ``struct`` decoder (no scapy: it is ~25× slower and takes seconds to import). It never
raises: for any input it returns an ``Advert`` (valid, or bogus with the first failing check in
``BOGUS_CHECKS`` order) or None when the bytes are not a VRRP packet at all (not IPv4/IPv6, or
not protocol 112, directly or behind an AH header).

Entry points: ``decode_ip`` (bytes starting at the IP header: AF_PACKET SOCK_DGRAM, raw-IP
pcaps) and ``decode_frame`` (a link-layer frame of a given pcap link type).
"""

from __future__ import annotations

import struct

# _socket is what socket re-exports; socket itself (enums, selectors) costs 2 ms of the
# start-up of `lvstop vrrp --pcap`
from _socket import AF_INET as _AF_INET
from _socket import AF_INET6 as _AF_INET6
from _socket import inet_ntop as _inet_ntop
from typing import NamedTuple

from lvstop.model.vrrp import Advert, Family

IPPROTO_VRRP = 112
IPPROTO_AH = 51

# pcap link types (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)

AUTH_TYPES = {0: "none", 1: "simple", 2: "ah"}

_HDR = struct.Struct("!BBBBBBH")  # ver/type, vrid, prio, count, auth|rsvd, adv int, checksum
_H = struct.Struct("!H")


def _mac(raw: bytes) -> str | None:
    if len(raw) != 6:
        return None
    return raw.hex(":")


def _bogus(
    time: float,
    interface: str | None,
    family: Family,
    src: str,
    src_mac: str | None,
    dst: str | None,
    ttl: int | None,
    error: str,
    version: int | None = None,
    vrid: int | None = None,
    priority: int | None = None,
) -> Advert:
    return Advert(
        time=time,
        interface=interface,
        family=family,
        src=src,
        src_mac=src_mac,
        dst=dst,
        ttl=ttl,
        version=version,
        vrid=vrid,
        priority=priority,
        valid=False,
        error=error,
    )


def decode_ip(
    packet: bytes,
    time: float,
    interface: str | None = None,
    src_mac: str | None = None,
) -> Advert | None:
    """Decode an IPv4/IPv6 packet carrying VRRP (directly or after an AH header)."""
    try:
        return _decode_ip(packet, time, interface, src_mac)
    except Exception:  # the contract is "never raises"; any slip is a malformed packet
        return None


class _IpHeader(NamedTuple):
    """What VRRP needs of the IPv4 / IPv6 header: the payload is ``packet[offset:end]``."""

    family: Family
    proto: int
    ttl: int
    offset: int
    end: int
    src_raw: bytes
    dst_raw: bytes


def _ip_header(packet: bytes) -> _IpHeader | None:
    """The IP header's fields, or None when it is not a whole IPv4 / IPv6 header."""
    n = len(packet)
    if n < 1:
        return None
    ip_version = packet[0] >> 4
    if ip_version == 4:
        if n < 20:
            return None
        ihl = (packet[0] & 0x0F) * 4
        if ihl < 20 or n < ihl:
            return None
        total = _H.unpack_from(packet, 2)[0]
        end = min(n, total) if total >= ihl else n
        return _IpHeader("inet", packet[9], packet[8], ihl, end, packet[12:16], packet[16:20])
    if ip_version == 6:
        if n < 40:
            return None
        payload_len = _H.unpack_from(packet, 4)[0]
        end = min(n, 40 + payload_len) if payload_len else n
        return _IpHeader("inet6", packet[6], packet[7], 40, end, packet[8:24], packet[24:40])
    return None


def _decode_ip(
    packet: bytes, time: float, interface: str | None, src_mac: str | None
) -> Advert | None:
    header = _ip_header(packet)
    if header is None:
        return None
    family, proto, ttl, offset, end, src_raw, dst_raw = header
    af = _AF_INET if family == "inet" else _AF_INET6
    addr_len = len(src_raw)
    src = _inet_ntop(af, src_raw)
    dst = _inet_ntop(af, dst_raw)
    pseudo: int  # ones'-complement partial sum of the v3 pseudo-header (mod 0xffff)
    if proto == IPPROTO_AH:
        # keepalived's auth_type AH: IP | AH | VRRP. AH length is in 4-byte units minus 2.
        if end - offset < 2:
            return None
        if packet[offset] != IPPROTO_VRRP:
            return None
        offset += (packet[offset + 1] + 2) * 4
        if offset > end:
            return _bogus(time, interface, family, src, src_mac, dst, ttl, "truncated")
    elif proto != IPPROTO_VRRP:
        return None

    vrrp = packet[offset:end]
    length = len(vrrp)
    # 1. truncated
    if length < 8:
        return _bogus(time, interface, family, src, src_mac, dst, ttl, "truncated")
    vt, vrid, priority, count, b4, b5, _checksum = _HDR.unpack_from(vrrp)
    version = vt >> 4
    # 2. version (RFC 3768 VRRPv2 is IPv4 only)
    if version == 3:
        pass
    elif version != 2 or addr_len != 4:
        return _bogus(
            time, interface, family, src, src_mac, dst, ttl, "version", version, vrid, priority
        )
    # 3. type: 1 = advertisement
    if vt & 0x0F != 1:
        return _bogus(
            time, interface, family, src, src_mac, dst, ttl, "type", version, vrid, priority
        )
    # 4. count: the addresses (and v2's 8 bytes of auth data) must fit in the message
    needed = 8 + count * addr_len + (8 if version == 2 else 0)
    if needed > length:
        return _bogus(
            time, interface, family, src, src_mac, dst, ttl, "count", version, vrid, priority
        )
    # 5. checksum: ones'-complement sum over the message (v3: plus the IP pseudo-header).
    # int.from_bytes(x) ≡ sum of x's 16-bit words (mod 0xffff) since 2**16 ≡ 1; a correct
    # message sums to -0, i.e. ≡ 0 and not all zero.
    body = vrrp if length % 2 == 0 else vrrp + b"\x00"
    total_sum = int.from_bytes(body, "big")
    if version == 3:
        pseudo = (
            int.from_bytes(src_raw, "big") + int.from_bytes(dst_raw, "big") + IPPROTO_VRRP + length
        )
        total_sum += pseudo
    if total_sum % 0xFFFF != 0 or total_sum == 0:
        return _bogus(
            time, interface, family, src, src_mac, dst, ttl, "checksum", version, vrid, priority
        )
    # 6. ttl / hop limit 255 (sent on the link, never routed)
    if ttl != 255:
        return _bogus(
            time, interface, family, src, src_mac, dst, ttl, "ttl", version, vrid, priority
        )

    addresses = tuple(
        _inet_ntop(af, vrrp[i : i + addr_len]) for i in range(8, 8 + count * addr_len, addr_len)
    )
    if version == 2:
        interval_ms = b5 * 1000
        auth_type: str | None = AUTH_TYPES.get(b4, f"unknown-{b4}")
        auth_start = 8 + count * 4
        auth_data = vrrp[auth_start : auth_start + 8] if b4 else b""
    else:
        interval_ms = ((b4 & 0x0F) << 8 | b5) * 10
        auth_type = None
        auth_data = b""
    return Advert(
        time=time,
        interface=interface,
        family=family,
        src=src,
        src_mac=src_mac,
        dst=dst,
        ttl=ttl,
        version=version,
        vrid=vrid,
        priority=priority,
        interval_ms=interval_ms,
        auth_type=auth_type,
        auth_data=auth_data,
        addresses=addresses,
        valid=True,
        error=None,
    )


def decode_frame(
    linktype: int, frame: bytes, time: float, interface: str | None = None
) -> Advert | None:
    """Decode one captured frame of pcap link type ``linktype``; None if not VRRP."""
    try:
        return _decode_frame(linktype, frame, time, interface)
    except Exception:
        return None


def _decode_frame(linktype: int, frame: bytes, time: float, interface: str | None) -> Advert | None:
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        ethertype = _H.unpack_from(frame, 12)[0]
        offset = 14
        while ethertype in _VLAN_TPIDS and len(frame) >= offset + 4:
            ethertype = _H.unpack_from(frame, offset + 2)[0]
            offset += 4
        if ethertype != ETH_P_IP and ethertype != ETH_P_IPV6:
            return None
        return _decode_ip(frame[offset:], time, interface, frame[6:12].hex(":"))
    if linktype == LINKTYPE_LINUX_SLL:
        # pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
        if len(frame) < 16:
            return None
        halen = _H.unpack_from(frame, 4)[0]
        mac = _mac(frame[6 : 6 + halen]) if halen == 6 else None
        ethertype = _H.unpack_from(frame, 14)[0]
        if ethertype != ETH_P_IP and ethertype != ETH_P_IPV6:
            return None
        return _decode_ip(frame[16:], time, interface, mac)
    if linktype == LINKTYPE_LINUX_SLL2:
        # protocol(2) rsvd(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
        if len(frame) < 20:
            return None
        ethertype = _H.unpack_from(frame, 0)[0]
        halen = frame[11]
        mac = _mac(frame[12 : 12 + halen]) if halen == 6 else None
        if ethertype != ETH_P_IP and ethertype != ETH_P_IPV6:
            return None
        return _decode_ip(frame[20:], time, interface, mac)
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return _decode_ip(frame, time, interface, None)
    if linktype == LINKTYPE_NULL:
        return _decode_ip(frame[4:], time, interface, None)
    return None


class CachedDecoder:
    """``decode_frame`` for captures, decoding each distinct advert once.

    A router repeats the same advert every interval; between two of them only the IPv4 id and
    header checksum change (keepalived counts the id up). Frames equal but for those are
    decoded once and the same ``Advert`` object is returned again: its ``time`` is the first
    packet's, so callers take the packet's own time alongside (``VrrpTracker.feed(advert,
    time)``). Only valid adverts are cached; the cache is cleared when it reaches
    ``max_entries`` (a capture of ever-different packets costs no more than plain decoding).
    """

    def __init__(self, max_entries: int = 65536) -> None:
        self.max_entries = max_entries
        self._caches: dict[tuple[int, str | None], dict[bytes, Advert]] = {}

    def decode(
        self, linktype: int, frame: bytes, time: float, interface: str | None = None
    ) -> Advert | None:
        cache = self._caches.get((linktype, interface))
        if cache is None:
            cache = self._caches[(linktype, interface)] = {}
        # IPv4 header offset for the common link types; other frames are keyed whole
        if linktype == LINKTYPE_ETHERNET and frame[12:14] == b"\x08\x00":
            key = frame[:18] + frame[22:24] + frame[26:]
        elif linktype == LINKTYPE_LINUX_SLL and frame[14:16] == b"\x08\x00":
            key = frame[:20] + frame[24:26] + frame[28:]
        elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4) and frame[:1] and frame[0] >> 4 == 4:
            key = frame[:4] + frame[8:10] + frame[12:]
        else:
            key = frame
        advert = cache.get(key)
        if advert is not None:
            return advert
        advert = decode_frame(linktype, frame, time, interface)
        if advert is not None and advert.valid:
            if len(cache) >= self.max_entries:
                cache.clear()
            cache[key] = advert
        return advert
