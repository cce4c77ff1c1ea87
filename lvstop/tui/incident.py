"""The incident snapshot (`S`): one JSON file with everything the screen knew at that moment.

Pure code (no Textual). Includes an ``ipvsadm -Sn``-style rule dump so the table can be
restored or diffed with the usual tools.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO

from lvstop import __version__
from lvstop.model.host import HostStats
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service
from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.track.events import LogEvent

_FORWARD_FLAG = {"route": "-g", "masq": "-m", "tunnel": "-i", "local": "-g", "bypass": "-g"}


def _service_spec(svc: Service) -> str:
    if svc.protocol == "fwmark":
        return f"-f {svc.fwmark}" + (" -6" if svc.family == "inet6" else "")
    flag = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[svc.protocol]
    address = svc.address or ""
    host = f"[{address}]" if ":" in address else address
    return f"{flag} {host}:{svc.port}"


def tunnel_options(rs: RealServer) -> str:
    """``--tun-type …`` as ipvsadm prints them (needed too when editing a tunnel server)."""
    if rs.forward != "tunnel" or not rs.tunnel_type:
        return ""
    out = f" --tun-type {rs.tunnel_type}"
    if rs.tunnel_type == "gue" and rs.tunnel_port:
        out += f" --tun-port {rs.tunnel_port}"
    if rs.tunnel_type in ("gue", "gre"):  # ipip has no checksum options
        out += "".join(f" --tun-{flag}" for flag in rs.tunnel_flags)
    return out


def rules_dump(snapshot: IpvsSnapshot) -> str:
    """The table as ``ipvsadm -Sn`` saves it, plus the thresholds it leaves out; restorable
    with ``ipvsadm -R`` (checked against ipvsadm in the lab)."""
    lines = []
    for svc in snapshot.services:
        spec = _service_spec(svc)
        line = f"-A {spec} -s {svc.scheduler}"
        if "one-packet" in svc.flags:
            line += " -o"
        if svc.persistence_timeout:
            line += f" -p {svc.persistence_timeout}"
            full = 128 if svc.family == "inet6" else 32
            if svc.persistence_mask != full:
                if svc.family == "inet6":
                    line += f" -M {svc.persistence_mask}"
                else:
                    bits = (0xFFFFFFFF << (32 - svc.persistence_mask)) & 0xFFFFFFFF
                    line += " -M " + ".".join(str(bits >> s & 255) for s in (24, 16, 8, 0))
            if svc.persistence_engine:
                line += f" --pe {svc.persistence_engine}"
        # ipvsadm prints the scheduler flags last
        sched_flags = [f for f in svc.flags if f not in ("persistent", "one-packet")]
        if sched_flags:
            line += " -b " + ",".join(sched_flags)
        lines.append(line)
        for rs in svc.real_servers:
            rs_line = (
                f"-a {spec} -r {rs.endpoint} {_FORWARD_FLAG.get(rs.forward, '-g')} -w {rs.weight}"
            )
            rs_line += tunnel_options(rs)
            # ipvsadm -S leaves the thresholds out (so its dump does not restore them);
            # ours keeps them: ipvsadm -R accepts -x / -y.
            if rs.upper_threshold:
                rs_line += f" -x {rs.upper_threshold}"
            if rs.lower_threshold:
                rs_line += f" -y {rs.lower_threshold}"
            lines.append(rs_line)
    return "\n".join(lines) + ("\n" if lines else "")


class AdvertRing:
    """The recent VRRP packets as Linux-cooked frames (what ``S`` saves as a pcap next to the
    JSON). Fed by the capture's ``on_raw`` (the bytes as they were on the wire, bogus ones
    included) or, for replays, with decoded adverts rebuilt by ``encode_advert``. Bounded by
    count; appended to on the capture's thread, read on the snapshot's."""

    def __init__(self, maxlen: int = 4096) -> None:
        self._frames: deque[tuple[float, bytes]] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._frames)

    def add_raw(
        self, time: float, ifname: str, src_mac: str | None, ip_packet: bytes, outgoing: bool
    ) -> None:
        from lvstop.sources.pcap import cooked_frame

        frame = cooked_frame(ip_packet, src_mac, outgoing)
        with self._lock:
            self._frames.append((time, frame))

    def add_advert(self, advert: Advert) -> None:
        from lvstop.sources.pcap import cooked_frame, encode_advert

        if advert.valid and advert.vrid is not None:
            frame = cooked_frame(encode_advert(advert), advert.src_mac)
            with self._lock:
                self._frames.append((advert.time, frame))

    def frames(self) -> list[tuple[float, bytes]]:
        with self._lock:
            return list(self._frames)


def incident_document(
    ipvs: IpvsSnapshot | None,
    vrrp: VrrpSnapshot | None,
    host: HostStats | None,
    events: list[LogEvent],
    now: float,
) -> dict[str, Any]:
    return {
        "schema": "lvstop.incident/1",
        "lvstop": __version__,
        "time": now,
        "time_text": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(now)),
        "ipvs": None if ipvs is None else ipvs.to_dict(),
        "ipvsadm_rules": None if ipvs is None else rules_dump(ipvs),
        "vrrp": None if vrrp is None else vrrp.to_dict(),
        "host": None if host is None else host.to_dict(),
        "events": [e.to_dict() for e in events],
    }


#: open flags of every file ``S`` writes: created here and now (never an existing file, never
#: through a symlink planted in a shared directory), private to root
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o600


def _create(path: Path) -> BinaryIO:
    """``path`` opened for writing, created by this call with mode 0600 (FileExistsError if
    anything, a symlink included, already has that name)."""
    return os.fdopen(os.open(path, _CREATE, FILE_MODE), "wb")


def _claim(directory: Path, stamp: str, with_pcap: bool) -> tuple[Path, BinaryIO, BinaryIO | None]:
    """The first free ``lvstop-incident-STAMP[-N]`` name: its JSON (and pcap) created
    exclusively. A name another user took first (a file, or a symlink meant to make root
    write elsewhere) is skipped, never opened."""
    for n in range(1, 1000):
        path = directory / (
            f"lvstop-incident-{stamp}.json" if n == 1 else f"lvstop-incident-{stamp}-{n}.json"
        )
        try:
            handle = _create(path)
        except FileExistsError:
            continue
        if not with_pcap:
            return path, handle, None
        try:
            return path, handle, _create(path.with_suffix(".pcap"))
        except FileExistsError:
            handle.close()
            path.unlink()
    raise OSError(errno.EEXIST, f"no free lvstop-incident-{stamp}-N name in {directory}")


def write_incident(
    document: dict[str, Any], directory: Path, now: float, adverts: AdvertRing | None = None
) -> tuple[Path, Path | None]:
    """Write the JSON (and, with ``adverts`` holding any, the pcap of the same name next to
    it, named in the JSON under ``vrrp_pcap``); returns both paths.

    The directory may be shared (the current directory, /tmp): each file is created
    exclusively without following symlinks, mode 0600 (the pcap carries VRRP authentication
    data in clear, the JSON the whole table).
    """
    from lvstop.sources.pcap import LINKTYPE_LINUX_SLL, PcapWriter

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    frames = adverts.frames() if adverts is not None else []
    path, handle, pcap_handle = _claim(directory, stamp, bool(frames))
    pcap: Path | None = None
    try:
        if pcap_handle is not None:
            pcap = path.with_suffix(".pcap")
            with pcap_handle, PcapWriter(pcap_handle, LINKTYPE_LINUX_SLL) as writer:
                for when, frame in frames:
                    writer.write(when, frame)
            document = {**document, "vrrp_pcap": {"file": pcap.name, "packets": len(frames)}}
        with handle:
            handle.write((json.dumps(document, indent=1) + "\n").encode("utf-8"))
    except BaseException:
        for made in (path, pcap):
            if made is not None:
                made.unlink(missing_ok=True)
        raise
    return path, pcap
