"""`lvstop export`: a Prometheus endpoint for IPVS, VRRP from the wire and keepalived.

``lvstop export --listen 127.0.0.1:9469`` polls its sources every ``--interval`` seconds in
the background and serves the last poll's snapshot at ``/metrics`` (text exposition, via the
prometheus-client library). node_exporter's ``node_ipvs_*`` series keep their names, labels
and values; the ``lvstop_*`` ones are listed by ``--list-metrics`` and in the README. It binds
only the address given and has no write endpoint; scrapes never signal keepalived.
"""

from __future__ import annotations

import argparse
import json
import sys

from lvstop.errors import LvstopError

NAME = "export"
HELP = "serve Prometheus metrics: node_exporter's IPVS series, VRRP from the wire, keepalived"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        metavar="ADDR:PORT",
        help="the address to serve /metrics on, e.g. 127.0.0.1:9469 or "
        "[::1]:9469 (required: nothing is bound unless told)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between polls of the sources (default 5; scrapes read the last poll)",
    )
    parser.add_argument(
        "--iface",
        "-i",
        action="append",
        metavar="IF",
        help="capture VRRP on this interface (repeatable; default: all)",
    )
    parser.add_argument("--no-vrrp", action="store_true", help="do not capture VRRP")
    parser.add_argument(
        "--no-keepalived",
        action="store_true",
        help="do not read keepalived (processes, config, state)",
    )
    parser.add_argument(
        "--no-keepalived-signals",
        action="store_true",
        help="never signal keepalived for its state dumps (then no instance "
        "states and no checker verdicts)",
    )
    parser.add_argument(
        "--backend-labels",
        metavar="LIST",
        default="local_address,local_port,remote_address,remote_port,proto,local_mark",
        help="labels of the per-real-server series, as node_exporter's "
        "--collector.ipvs.backend-labels (drop local_port,remote_port to sum "
        "over ports)",
    )
    parser.add_argument(
        "--list-metrics",
        action="store_true",
        help="print the metric names, types, labels and help as JSON lines and exit",
    )


def run(args: argparse.Namespace) -> int:
    from lvstop.export.metrics import describe, parse_backend_labels
    from lvstop.export.server import parse_listen

    if args.list_metrics:
        for row in describe():
            print(json.dumps(row))
        return 0
    if not args.listen:
        raise LvstopError("--listen ADDR:PORT is required (e.g. --listen 127.0.0.1:9469)")
    try:
        address = parse_listen(args.listen)
        labels = parse_backend_labels(args.backend_labels)
    except ValueError as exc:
        raise LvstopError(str(exc)) from None
    if not 0.1 <= args.interval <= 3600:
        raise LvstopError("--interval must be between 0.1 and 3600 seconds")
    if args.no_vrrp and args.iface:
        raise LvstopError("--iface and --no-vrrp exclude each other")
    import asyncio

    return asyncio.run(_serve(args, address, labels))


async def _serve(
    args: argparse.Namespace, address: tuple[str, int], labels: tuple[str, ...]
) -> int:
    import asyncio
    import signal

    from lvstop.export.metrics import Published
    from lvstop.export.poller import KeepalivedPoll, Poller, VrrpPoll
    from lvstop.export.server import serve

    published = Published(labels)
    poller = Poller(
        published,
        interval=args.interval,
        vrrp=None if args.no_vrrp else VrrpPoll(args.iface),
        keepalived=None
        if args.no_keepalived
        else KeepalivedPoll(signals=not args.no_keepalived_signals),
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = None
    try:
        await poller.start()
        await poller.poll_once()
        server = serve(address, published)
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        print(
            f"lvstop export: serving http://{host}:{address[1]}/metrics",
            file=sys.stderr,
            flush=True,
        )
        await poller.run(stop)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        await poller.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
