"""`lvstop vrrp`: watch VRRP adverts live (or read a capture) and say who is master, with events.

One line per advert (like tcpdump's, with the VRID's current master), one line per event, and
at the end (Ctrl-C, ``--duration``, end of the pcap) a summary per VRID. ``--json`` prints JSON
lines instead (``type`` = ``advert`` | ``event`` | ``summary`` | ``capture``). It only listens.
The live path never imports scapy.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from lvstop.errors import LvstopError

if TYPE_CHECKING:
    from lvstop.model.vrrp import Advert, CaptureStats, VrrpEvent, VrrpSnapshot
    from lvstop.sources.pcap import PcapReader
    from lvstop.track.vrrp import VrrpTracker

NAME = "vrrp"
_INF = float("inf")
TICK_SECONDS = 1.0
HELP = "show VRRP adverts, masters, failovers and split brain, live or from a pcap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--iface",
        "-i",
        action="append",
        metavar="IF",
        default=None,
        help="capture on this interface (repeatable; default: all)",
    )
    parser.add_argument("--pcap", "-r", metavar="FILE", help="read a pcap/pcapng file instead")
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop after S seconds (of capture time with --pcap)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument(
        "--show-auth", action="store_true", help="show simple-auth passwords (masked otherwise)"
    )


class _Printer:
    """Formats adverts, events and the summary as text or JSON lines.

    Lines are collected and written in chunks (``flush``). The text of an advert is cached by
    its content (a router repeats the same advert every interval): only the time stamp and the
    current master change from line to line.
    """

    def __init__(self, out: TextIO, *, as_json: bool, show_auth: bool) -> None:
        self.out = out
        self._lines: list[str] = []
        self.write = self._lines.append
        self.as_json = as_json
        self.show_auth = show_auth
        self._sec = -1
        self._clock = ""
        #: the content of an advert (all but its time) -> the text of its line but the time
        #: stamp and master (a router repeats the same advert every interval)
        self.bodies: dict[tuple[object, ...], str] = {}
        self.gaps: dict[tuple[str, int | None, str | None], list[float]] = defaultdict(list)
        self.preempts: dict[tuple[str, int | None, str | None], int] = defaultdict(int)

    def flush(self) -> None:
        if self._lines:
            self.out.write("".join(self._lines))
            self._lines.clear()
        self.out.flush()

    def maybe_flush(self) -> None:
        if len(self._lines) >= 4096:
            self.out.write("".join(self._lines))
            self._lines.clear()

    def _stamp(self, t: float) -> str:
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._clock = time.strftime("%H:%M:%S", time.localtime(sec))
        return f"{self._clock}.{int((t - sec) * 1e6):06d}"

    def body(self, a: Advert) -> str:
        """The part of an advert's line that only depends on the packet's content."""
        if self.as_json:
            d = a.to_dict(self.show_auth)
            del d["type"], d["time"]
            return _dumps(d)[1:-1]
        head = f"{a.interface or '-'} {a.src} > {a.dst}:"
        if not a.valid:
            extra = f" vrid {a.vrid}" if a.vrid is not None else ""
            return f"{head} VRRP bogus ({a.error}){extra} ttl {a.ttl}"
        if a.auth_type == "simple":
            auth = f' auth simple "{a.auth_text if self.show_auth else "***"}"'
        elif a.auth_type is not None:
            auth = f" auth {a.auth_type}"
        else:
            auth = ""
        return (
            f"{head} VRRPv{a.version} vrid {a.vrid} prio {a.priority} intvl {a.interval_ms}ms"
            f"{auth} addrs {','.join(a.addresses)}"
        )

    def advert(self, a: Advert, master: str | None, t: float | None = None) -> None:
        if t is None:
            t = a.time
        # everything the line shows but the time (and the master)
        key = (
            a.interface,
            a.src,
            a.dst,
            a.valid,
            a.error,
            a.vrid,
            a.ttl,
            a.version,
            a.priority,
            a.interval_ms,
            a.auth_type,
            a.auth_data,
            a.addresses,
            a.src_mac,
        )
        body = self.bodies.get(key)
        if body is None:
            if len(self.bodies) > 65536:
                self.bodies.clear()
            body = self.bodies[key] = self.body(a)
        if self.as_json:
            m = "null" if master is None else f'"{master}"'
            self.write(f'{{"type": "advert", "time": {t!r}, {body}, "master": {m}}}\n')
            return
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._clock = time.strftime("%H:%M:%S", time.localtime(sec))
        if a.valid:
            self.write(f"{self._clock}.{int((t - sec) * 1e6):06d} {body} master {master or '-'}\n")
        else:
            self.write(f"{self._clock}.{int((t - sec) * 1e6):06d} {body}\n")

    def event(self, e: VrrpEvent) -> None:
        key = (e.family, e.vrid, e.interface)
        if e.kind == "failover" and e.gap_ms is not None:
            self.gaps[key].append(e.gap_ms)
        elif e.kind == "preempt":
            self.preempts[key] += 1
        if self.as_json:
            self.write(_dumps(e.to_dict()) + "\n")
            return
        where = f" {e.interface}" if e.interface else ""
        self.write(f"{self._stamp(e.time)}{where} *** {e.kind.upper()}: {e.detail}\n")

    def summary(self, snap: VrrpSnapshot, capture: CaptureStats | None) -> None:
        for v in snap.vrids:
            key = (v.family, v.vrid, v.interface)
            gaps = self.gaps.get(key, [])
            if self.as_json:
                d: dict[str, Any] = {"type": "summary", **v.to_dict()}
                d["failover_gaps_ms"] = gaps
                d["preempts"] = self.preempts.get(key, 0)
                self.write(_dumps(d) + "\n")
                continue
            where = f"{v.family}" + (f" on {v.interface}" if v.interface else "")
            master = v.master_router
            if master is not None:
                head = f"master {master.src} (priority {master.priority})"
            elif v.routers:
                head = "no master (silent)" if v.silent else "no master"
            else:
                head = "no valid adverts"
            routers = ", ".join(
                f"{r.src} prio {r.priority} {r.adverts} adverts {r.rate:.2f}/s" for r in v.routers
            )
            gap_text = " (gaps " + ", ".join(f"{g:.0f}" for g in gaps) + " ms)" if gaps else ""
            lines = [
                f"VRID {v.vrid} ({where}): {head}",
                f"  routers: {routers or '-'}",
                f"  failovers: {len(gaps)}{gap_text}; preempts: {self.preempts.get(key, 0)}; "
                f"split brain: {v.split_brain_seconds:.1f} s"
                + (" (ongoing)" if v.split_brain else "")
                + f"; bogus: {v.bogus}",
            ]
            if v.conflict_fields:
                lines.append(f"  conflict: {', '.join(v.conflict_fields)}")
            if v.host_mismatch:
                lines.append(f"  host: {v.host_mismatch}")
            if v.local_vips:
                lines.append(f"  VIPs held here: {', '.join(v.local_vips)}")
            if v.untracked_adverts:
                lines.append(
                    f"  too many senders: {v.untracked_adverts} adverts from senders "
                    f"beyond the {len(v.routers)} routers kept (counted, not tracked)"
                    + (" (ongoing)" if v.too_many_senders else "")
                )
            self.write("\n".join(lines) + "\n")
        if not snap.vrids:
            if not self.as_json:
                self.write("no VRRP adverts seen\n")
        elif not self.as_json and snap.bogus_total:
            self.write(f"bogus packets: {snap.bogus_total}\n")
        untracked_vrids = snap.untracked_adverts - sum(v.untracked_adverts for v in snap.vrids)
        if untracked_vrids and not self.as_json:
            self.write(
                f"too many VRIDs: {untracked_vrids} adverts of VRIDs beyond the "
                f"{len(snap.vrids)} kept (counted, not tracked)\n"
            )
        if capture is not None:
            if self.as_json:
                self.write(_dumps({"type": "capture", **capture.to_dict()}) + "\n")
            else:
                self.write(
                    f"capture: kernel passed {capture.kernel_packets}, kernel dropped "
                    f"{capture.kernel_drops}, read {capture.received}, "
                    f"decoded {capture.decoded}\n"
                )


def run(args: argparse.Namespace) -> int:
    from lvstop.track.vrrp import VrrpTracker

    if args.duration is not None and args.duration <= 0:
        raise LvstopError("--duration must be a positive number of seconds")
    printer = _Printer(sys.stdout, as_json=args.json, show_auth=args.show_auth)
    tracker = VrrpTracker(per_interface=True)
    if args.pcap:
        if args.iface:
            raise LvstopError("--iface and --pcap exclude each other")
        return _run_pcap(args, tracker, printer)
    return _run_live(args, tracker, printer)


def _dumps(obj: object) -> str:
    # json is imported on first use: the text output of --pcap needs it for no line at all
    # (a millisecond of start-up, which counts against tcpdump -nr)
    import json

    return json.dumps(obj)


def _warn(text: str) -> None:
    print(f"lvstop: warning: {text}", file=sys.stderr)


def _run_pcap(args: argparse.Namespace, tracker: VrrpTracker, printer: _Printer) -> int:
    from lvstop.sources.pcap import PcapReader

    reader = PcapReader(args.pcap)
    state = _PcapRun(args.duration, tracker, printer)
    layout = reader.classic()
    if layout is not None and layout[3] == 1 and not printer.as_json:
        _classic_ethernet_text(reader, layout, state)
    else:
        state.loop(reader.records())
    for event in tracker.tick(state.last):
        printer.event(event)
    printer.summary(tracker.snapshot(state.last, source=f"pcap: {args.pcap}"), None)
    printer.flush()
    for warning in reader.warnings:
        _warn(warning)
    if state.bad_links:
        _warn(
            f"{args.pcap}: unsupported link type(s) {sorted(state.bad_links)}; "
            "those packets skipped"
        )
    return 0


class _PcapRun:
    """The general path of ``--pcap``: each packet decoded (a repeated advert through
    ``CachedDecoder``), fed and printed; ``one`` is False once ``--duration`` is over."""

    def __init__(self, duration: float | None, tracker: VrrpTracker, printer: _Printer) -> None:
        from lvstop.sources.vrrp_decode import SUPPORTED_LINKTYPES, CachedDecoder

        self.supported = SUPPORTED_LINKTYPES
        self.decode = CachedDecoder().decode
        self.duration = duration
        self.tracker = tracker
        self.printer = printer
        self.first: float | None = None
        self.end = _INF
        self.last = 0.0
        self.n = 0
        self.bad_links: set[int] = set()

    def one(self, t: float, linktype: int, data: bytes, interface: str | None) -> Advert | None:
        """Decode, feed and print one packet; the advert (None if not one); raises
        ``_Done`` past ``--duration``."""
        advert = self.decode(linktype, data, t, interface)
        if advert is None:
            if linktype not in self.supported:
                self.bad_links.add(linktype)
            return None
        if self.first is None:
            self.first = t
            if self.duration is not None:
                self.end = t + self.duration
        if t > self.end:
            raise _Done
        self.last = t
        events = self.tracker.feed(advert, t)
        self.printer.advert(advert, self.tracker.last_master, t)
        for event in events:
            self.printer.event(event)
        self.n += 1
        if not self.n & 1023:
            self.printer.maybe_flush()
        return advert

    def loop(self, records: Iterable[tuple[float, int, bytes, str | None]]) -> None:
        one = self.one
        with contextlib.suppress(_Done):
            for t, linktype, data, interface in records:
                one(t, linktype, data, interface)


class _Done(Exception):
    """``--duration`` is over."""


def _classic_ethernet_text(
    reader: PcapReader,
    layout: tuple[bytes, Callable[[bytes, int], tuple[int, ...]], float, int],
    state: _PcapRun,
) -> None:
    """The hot loop of ``--pcap`` (text output, classic pcap of Ethernet frames: what tcpdump
    writes): a capture is mostly the same adverts again. The records are walked in the file's
    buffer itself (no packet slice, no generator); an IPv4 advert is looked up by its bytes
    less the IPv4 id and header checksum (keepalived counts the id up; as CachedDecoder keys
    it) together with its line, formatted once; the tracker takes the repeated advert object
    through its fast path. A miss (the first sight of each advert: ``first`` is set there)
    and every other frame go through ``_PcapRun.one``."""
    buf, unpack, scale, _linktype = layout
    tracker = state.tracker
    printer = state.printer
    feed = tracker.feed
    print_event = printer.event
    write = printer.write
    one = state.one
    #: frame key -> (advert, the text of its line between the time stamp and the master)
    cache: dict[bytes, tuple[Advert, str]] = {}
    size = len(buf)
    offset = 24
    count = 0
    clock_sec = -1
    clock = ""
    last = 0.0
    end = _INF  # set by the first advert (a miss, in `one`) with --duration
    truncated = False
    try:
        while offset + 16 <= size:
            sec, frac, incl, _orig = unpack(buf, offset)
            data_at = offset + 16
            offset = data_at + incl
            if offset > size:
                offset = data_at - 16
                truncated = True
                break
            count += 1
            t = sec + frac * scale
            # the frame less bytes 18-21 (IPv4 id, flags) and 24-25 (header checksum); only
            # IPv4-over-Ethernet adverts are stored (the key holds the ethertype). A frame of
            # 26 bytes or fewer gets a 20-byte key (it may run into the next record), shorter
            # than any stored one: never a hit.
            key = (
                buf[data_at : data_at + 18]
                + buf[data_at + 22 : data_at + 24]
                + buf[data_at + 26 : offset]
            )
            hit = cache.get(key)
            if hit is not None:
                if t > end:
                    raise _Done
                last = t
                events = feed(hit[0], t)
                sec = int(t)
                if sec != clock_sec:
                    clock_sec = sec
                    clock = time.strftime("%H:%M:%S", time.localtime(sec))
                write(f"{clock}.{int((t - sec) * 1e6):06d}{hit[1]}{tracker.last_master or '-'}\n")
                if events:
                    for event in events:
                        print_event(event)
                if not count & 1023:
                    printer.maybe_flush()
                continue
            state.last = last
            data = buf[data_at:offset]
            advert = one(t, 1, data, None)
            last = state.last
            end = state.end
            if advert is not None and advert.valid and data[12:14] == b"\x08\x00":
                if len(cache) >= 65536:
                    cache.clear()
                cache[key] = (advert, f" {printer.body(advert)} master ")
    except _Done:
        state.last = last
        return
    state.last = last
    reader.classic_end(offset, count, truncated)


def _run_live(args: argparse.Namespace, tracker: VrrpTracker, printer: _Printer) -> int:
    import asyncio

    return asyncio.run(_live(args, tracker, printer))


async def _live(args: argparse.Namespace, tracker: VrrpTracker, printer: _Printer) -> int:
    import asyncio
    import signal

    from lvstop.sources.addresses import LocalAddresses
    from lvstop.sources.vrrp_capture import VrrpCapture

    def on_advert(advert: Advert) -> None:
        events = tracker.feed(advert)
        printer.advert(advert, tracker.last_master)
        for event in events:
            printer.event(event)

    ticker: asyncio.TimerHandle | None = None

    def on_batch() -> None:
        # Adverts advance the tracker's time themselves: while they arrive the ticker only
        # needs to fire a second after the last batch (so an idle loop sleeps, and a busy one
        # is not woken for nothing).
        nonlocal ticker
        printer.flush()
        if ticker is not None:
            ticker.cancel()
        ticker = loop.call_later(TICK_SECONDS, tick)

    def tick() -> None:
        # Behind the clock by the capture's batching latency: no advert still in the ring
        # is overtaken (silence is judged on kernel timestamps).
        nonlocal ticker
        events = tracker.tick(time.time() - capture.latency)
        for event in events:
            printer.event(event)
        if events:
            printer.flush()
        ticker = loop.call_later(TICK_SECONDS, tick)

    capture = VrrpCapture(args.iface, on_advert, on_batch=on_batch)
    capture.open()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def on_addresses(addresses: frozenset[str]) -> None:
        for event in tracker.set_local_addresses(addresses, time.time()):
            printer.event(event)
        printer.flush()

    watcher = LocalAddresses(on_change=on_addresses)
    try:
        await watcher.start()
    except LvstopError as exc:
        _warn(f"{exc}; not comparing the wire with this host's addresses")
    capture.start(loop)
    ticker = loop.call_later(TICK_SECONDS, tick)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.duration)
    finally:
        if ticker is not None:
            ticker.cancel()
        # the last packets wait in the ring's open block for up to capture.latency
        await capture.flush()
        stats = capture.stats()
        capture.close()
        await watcher.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    for event in tracker.tick(time.time()):
        printer.event(event)
    printer.summary(
        tracker.snapshot(
            time.time(), capture=stats, source="live: " + ", ".join(args.iface or ["all"])
        ),
        stats,
    )
    printer.flush()
    if watcher.error:
        _warn(watcher.error)
    return 0
