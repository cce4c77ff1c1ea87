"""pcap and pcapng files in pure Python: a reader (``lvstop vrrp --pcap``) and a writer (the
dashboard's incident snapshot). scapy is not used here: it takes seconds to import and reads
~25× slower.

The reader yields ``Packet(time, linktype, data, interface)`` using each packet's own
timestamp; ``read_adverts`` decodes them to ``Advert``. A damaged file gives what could be read
plus a warning in ``PcapReader.warnings`` (the command prints it), never a traceback. A file that
is not a capture at all raises ``PcapError`` (an ``LvstopError``: one line for the user).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from lvstop.errors import LvstopError
from lvstop.model.vrrp import Advert
from lvstop.sources.vrrp_decode import (
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    decode_frame,
)

if TYPE_CHECKING:  # socket and pathlib cost ~4 ms of `lvstop vrrp --pcap` start-up
    from pathlib import Path

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
_IDB, _OPB, _SPB, _EPB = 1, 2, 3, 6
#: a capture is read whole: bigger ones are refused (cut them with editcap or tcpdump -c)
MAX_CAPTURE_BYTES = 1 << 30
#: the last second of year 9999: a pcapng time stamp beyond it is damage (or an attack), and
#: it would overflow time_t / datetime where it is shown
MAX_TIME = 253402300799.0


class PcapError(LvstopError):
    """The file is not a readable pcap/pcapng capture."""


@dataclass(frozen=True, slots=True)
class Packet:
    time: float
    linktype: int
    data: bytes
    interface: str | None = None


class PcapReader:
    """Iterate the packets of a pcap or pcapng file (read whole into memory: captures of
    adverts are small, and one read is much faster than many)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.warnings: list[str] = []
        self.packets = 0
        self._buf = self._read()
        if self.format == "pcap" and len(self._buf) < 24:
            raise PcapError(f"{self.path}: truncated pcap header")

    def _read(self) -> bytes:
        """The whole file, once it is known to be a regular file that starts like a capture.

        Opened non-blocking (a FIFO cannot hang the open), checked with fstat (a device such
        as /dev/zero is never read) and by its magic number before the rest is read.
        """
        import os
        import stat

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        except FileNotFoundError:
            raise PcapError(f"{self.path}: no such file") from None
        except OSError as exc:
            raise PcapError(f"{self.path}: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise PcapError(f"{self.path}: is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise PcapError(f"{self.path}: not a regular file (a FIFO, device or socket)")
            head = os.read(fd, 4)
            if len(head) < 4:
                raise PcapError(f"{self.path}: not a pcap or pcapng file (too short)")
            if struct.unpack("<I", head)[0] == PCAPNG_SHB:
                self.format = "pcapng"
            elif struct.unpack("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) or (
                struct.unpack(">I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS)
            ):
                self.format = "pcap"
            else:
                raise PcapError(f"{self.path}: not a pcap or pcapng file (magic {head.hex()})")
            if st.st_size > MAX_CAPTURE_BYTES:
                raise PcapError(
                    f"{self.path}: {st.st_size / (1 << 30):.1f} GiB; lvstop reads captures of "
                    f"up to {MAX_CAPTURE_BYTES >> 30} GiB (cut it with editcap or tcpdump -c)"
                )
            chunks = [head]
            got = len(head)
            while got <= MAX_CAPTURE_BYTES:
                chunk = os.read(fd, min(1 << 24, MAX_CAPTURE_BYTES + 1 - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
            if got > MAX_CAPTURE_BYTES:
                raise PcapError(f"{self.path}: grew past {MAX_CAPTURE_BYTES >> 30} GiB while read")
            return b"".join(chunks)
        except OSError as exc:
            raise PcapError(f"{self.path}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def __iter__(self) -> Iterator[Packet]:
        for time, linktype, data, interface in self.records():
            yield Packet(time, linktype, data, interface)

    def records(self) -> Iterator[tuple[float, int, bytes, str | None]]:
        """The packets as plain tuples ``(time, linktype, data, interface)`` (the fast path:
        no object per packet)."""
        if self.format == "pcap":
            return self._pcap()
        return self._pcapng()

    def _warn(self, text: str) -> None:
        self.warnings.append(f"{self.path}: {text}")

    def classic(self) -> tuple[bytes, Callable[[bytes, int], tuple[int, ...]], float, int] | None:
        """For a classic pcap file, what a caller's own loop over the records needs:
        ``(buf, unpack_header, seconds_per_fraction, linktype)``; records start at byte 24,
        each a 16-byte header ``(sec, frac, incl_len, orig_len)`` (``unpack_header(buf,
        offset)``) and ``incl_len`` bytes. The caller reports where it stopped with
        ``classic_end`` (same warnings as ``records()``). None for pcapng."""
        if self.format != "pcap":
            return None
        buf = self._buf
        magic_le = struct.unpack_from("<I", buf)[0]
        endian = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
        magic = struct.unpack_from(endian + "I", buf)[0]
        scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
        linktype = struct.unpack_from(endian + "I", buf, 20)[0] & 0x0FFFFFFF
        return buf, struct.Struct(endian + "IIII").unpack_from, scale, linktype

    def classic_end(self, offset: int, count: int, truncated: bool) -> None:
        """A loop over ``classic()`` records stopped at ``offset`` after ``count`` packets:
        ``truncated`` when the record there claims more bytes than the file has."""
        end = len(self._buf)
        if truncated:
            self._warn(f"truncated packet #{count + 1} at byte {offset}; stopped there")
        elif offset != end:
            self._warn(f"{end - offset} trailing bytes after packet #{count}; ignored")
        self.packets = count

    def _pcap(self) -> Iterator[tuple[float, int, bytes, str | None]]:
        layout = self.classic()
        assert layout is not None
        buf, unpack, scale, linktype = layout
        offset = 24
        end = len(buf)
        count = 0
        while offset + 16 <= end:
            sec, frac, incl, _orig = unpack(buf, offset)
            if offset + 16 + incl > end:
                self.classic_end(offset, count, truncated=True)
                return
            offset += 16
            count += 1
            yield (sec + frac * scale, linktype, buf[offset : offset + incl], None)
            offset += incl
        self.classic_end(offset, count, truncated=False)

    def _pcapng(self) -> Iterator[tuple[float, int, bytes, str | None]]:
        buf = self._buf
        end = len(buf)
        offset = 0
        endian = "<"
        ifaces: list[tuple[int, float, str | None]] = []  # linktype, tick seconds, name
        count = 0
        while offset + 12 <= end:
            btype = struct.unpack_from(endian + "I", buf, offset)[0]
            if btype == PCAPNG_SHB:
                bom = buf[offset + 8 : offset + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    self._warn(f"bad section header at byte {offset}; stopped there")
                    break
                ifaces = []
            blen = struct.unpack_from(endian + "I", buf, offset + 4)[0]
            if blen < 12 or blen % 4 or offset + blen > end:
                self._warn(f"truncated or damaged block at byte {offset}; stopped there")
                break
            body = offset + 8
            body_end = offset + blen - 4
            if btype == _IDB and body_end - body >= 8:
                linktype = struct.unpack_from(endian + "H", buf, body)[0]
                tick, name = _idb_options(buf, body + 8, body_end, endian)
                ifaces.append((linktype, tick, name))
            elif btype in (_EPB, _OPB) and body_end - body >= 20:
                # EPB: a 32-bit interface id; OPB (obsolete): 16-bit interface id and drops
                head = struct.unpack_from(
                    endian + ("IIIII" if btype == _EPB else "HHIIII"), buf, body
                )
                if_id, (hi, lo, caplen) = head[0], head[-4:-1]
                if if_id >= len(ifaces) or body + 20 + caplen > body_end:
                    self._warn(f"bad packet block at byte {offset}; skipped")
                else:
                    linktype, tick, name = ifaces[if_id]
                    count += 1
                    t = ((hi << 32) | lo) * tick
                    if t > MAX_TIME:
                        self._warn(
                            f"packet #{count} at byte {offset}: time stamp beyond "
                            "year 9999; skipped"
                        )
                    else:
                        yield t, linktype, buf[body + 20 : body + 20 + caplen], name
            elif btype == _SPB and body_end - body >= 4 and ifaces:
                # Simple packet blocks carry no timestamp: 0.0 makes that visible.
                orig = struct.unpack_from(endian + "I", buf, body)[0]
                caplen = min(orig, body_end - body - 4)
                count += 1
                yield (0.0, ifaces[0][0], buf[body + 4 : body + 4 + caplen], ifaces[0][2])
            offset += blen
        else:
            if offset != end:
                self._warn(f"{end - offset} trailing bytes; ignored")
        self.packets = count


def _idb_options(buf: bytes, pos: int, end: int, endian: str) -> tuple[float, str | None]:
    tick = 1e-6
    name: str | None = None
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        pos += 4
        if code == 0:
            break
        value = buf[pos : pos + length]
        if code == 2:
            name = value.rstrip(b"\x00").decode("utf-8", "replace") or None
        elif code == 9 and length >= 1:
            res = value[0]
            tick = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0**-res
        pos += (length + 3) & ~3
    return tick, name


def read_adverts(reader: PcapReader) -> Iterator[Advert]:
    """VRRP adverts of a capture (other packets are skipped), timed by the capture."""
    for packet in reader:
        advert = decode_frame(packet.linktype, packet.data, packet.time, packet.interface)
        if advert is not None:
            yield advert


class PcapWriter:
    """Write a classic pcap (nanosecond timestamps) that tcpdump, Wireshark and ``PcapReader``
    read. ``linktype`` is that of every frame written (raw IP, Ethernet or Linux cooked)."""

    def __init__(
        self, target: str | Path | BinaryIO, linktype: int = LINKTYPE_RAW, snaplen: int = 65535
    ) -> None:
        self._own = not hasattr(target, "write")
        self._f: BinaryIO = open(target, "wb") if self._own else target  # type: ignore[arg-type,assignment]  # noqa: SIM115
        self.linktype = linktype
        self._f.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, snaplen, linktype))

    def write(self, time: float, data: bytes) -> None:
        sec = int(time)
        nsec = round((time - sec) * 1e9)
        if nsec >= 1_000_000_000:
            sec, nsec = sec + 1, nsec - 1_000_000_000
        self._f.write(struct.pack("<IIII", sec, nsec, len(data), len(data)))
        self._f.write(data)

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cooked_frame(ip_packet: bytes, src_mac: str | None, outgoing: bool = False) -> bytes:
    """Wrap an IP packet in a Linux cooked (SLL) header, keeping the sender's MAC."""
    mac = bytes.fromhex(src_mac.replace(":", "")) if src_mac else b""
    ethertype = 0x86DD if ip_packet[:1] and ip_packet[0] >> 4 == 6 else 0x0800
    return (
        struct.pack("!HHH", 4 if outgoing else 0, 1, len(mac))
        + mac.ljust(8, b"\x00")
        + struct.pack("!H", ethertype)
        + ip_packet
    )


def encode_advert(advert: Advert) -> bytes:
    """Rebuild the IP packet of a valid advert (for incident snapshots that kept ``Advert``
    objects, not raw bytes). Checksums are computed; AH authentication is not reproduced."""
    import socket

    v6 = advert.family == "inet6"
    af = socket.AF_INET6 if v6 else socket.AF_INET
    addrs = b"".join(socket.inet_pton(af, a) for a in advert.addresses)
    version = advert.version or 2
    if version == 2:
        auth = {"none": 0, "simple": 1, "ah": 2}.get(advert.auth_type or "none", 0)
        head = struct.pack(
            "!BBBBBBH",
            0x21,
            advert.vrid or 0,
            advert.priority or 0,
            len(advert.addresses),
            auth,
            (advert.interval_ms or 0) // 1000,
            0,
        )
        body = head + addrs + advert.auth_data.ljust(8, b"\x00")[:8]
    else:
        cs = (advert.interval_ms or 0) // 10
        head = struct.pack(
            "!BBBBHH",
            0x31,
            advert.vrid or 0,
            advert.priority or 0,
            len(advert.addresses),
            cs & 0x0FFF,
            0,
        )
        body = head + addrs
    src = socket.inet_pton(af, advert.src)
    dst = socket.inet_pton(af, advert.dst or ("ff02::12" if v6 else "224.0.0.18"))
    pseudo = src + dst + struct.pack("!HH", 112, len(body)) if version == 3 else b""
    csum = _checksum(pseudo + body)
    body = body[:6] + struct.pack("!H", csum) + body[8:]
    ttl = advert.ttl if advert.ttl is not None else 255
    if v6:
        return struct.pack("!IHBB", 0x60000000, len(body), 112, ttl) + src + dst + body
    ip = struct.pack("!BBHHHBBH", 0x45, 0xC0, 20 + len(body), 0, 0, ttl, 112, 0) + src + dst
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + body


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_adverts(path: str | Path, adverts: Iterable[Advert]) -> int:
    """Save adverts as a Linux-cooked pcap (the dashboard's incident snapshot); returns the
    number written. Bogus adverts cannot be rebuilt and are skipped."""
    n = 0
    with PcapWriter(path, LINKTYPE_LINUX_SLL) as writer:
        for advert in adverts:
            if advert.valid and advert.vrid is not None:
                writer.write(advert.time, cooked_frame(encode_advert(advert), advert.src_mac))
                n += 1
    return n


__all__ = [
    "LINKTYPE_ETHERNET",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_RAW",
    "Packet",
    "PcapError",
    "PcapReader",
    "PcapWriter",
    "cooked_frame",
    "encode_advert",
    "read_adverts",
    "write_adverts",
]
