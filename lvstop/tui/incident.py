"""The incident snapshot (`S`): one JSON file with everything the screen knew at that moment.

Pure code (no Textual). Includes an ``ipvsadm -Sn``-style rule dump so the table can be
restored or diffed with the usual tools.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from lvstop import __version__
from lvstop.model.ipvs import IpvsSnapshot, RealServer, Service
from lvstop.model.vrrp import Advert, VrrpSnapshot
from lvstop.sources.host import HostStats
from lvstop.tui.events import LogEvent

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
            rs_line = (f"-a {spec} -r {rs.endpoint} {_FORWARD_FLAG.get(rs.forward, '-g')} "
                       f"-w {rs.weight}")
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

    def add_raw(self, time: float, ifname: str, src_mac: str | None, ip_packet: bytes,
                outgoing: bool) -> None:
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

    def write(self, path: Path) -> int:
        """Write the frames held now as a pcap; returns how many."""
        from lvstop.sources.pcap import LINKTYPE_LINUX_SLL, PcapWriter

        frames = self.frames()
        with PcapWriter(path, LINKTYPE_LINUX_SLL) as writer:
            for when, frame in frames:
                writer.write(when, frame)
        return len(frames)


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


def write_incident(document: dict[str, Any], directory: Path, now: float,
                   adverts: AdvertRing | None = None) -> tuple[Path, Path | None]:
    """Write the JSON (and, with ``adverts`` holding any, the pcap of the same name next to
    it, named in the JSON under ``vrrp_pcap``); returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    path = directory / f"lvstop-incident-{stamp}.json"
    n = 1
    while path.exists() or path.with_suffix(".pcap").exists():
        n += 1
        path = directory / f"lvstop-incident-{stamp}-{n}.json"
    pcap: Path | None = None
    if adverts is not None and len(adverts):
        pcap = path.with_suffix(".pcap")
        tmp_pcap = path.with_suffix(".pcap.tmp")
        count = adverts.write(tmp_pcap)
        tmp_pcap.replace(pcap)
        document = {**document, "vrrp_pcap": {"file": pcap.name, "packets": count}}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path, pcap
