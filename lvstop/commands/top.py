"""`lvstop top` (and plain `lvstop`): the live dashboard."""

from __future__ import annotations

import argparse

from lvstop.errors import LvstopError

NAME = "top"
HELP = "the live dashboard: services, real servers, VRRP, events, host (the default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interval", type=float, default=1.0, metavar="S",
                        help="refresh interval in seconds (default 1)")
    parser.add_argument("--iface", action="append", default=[], metavar="IF",
                        help="interface(s) to watch VRRP adverts on (default: all)")
    parser.add_argument("--no-vrrp", action="store_true", help="do not capture VRRP adverts")
    parser.add_argument("--read-only", action="store_true",
                        help="never write to the kernel (no drain / weight / timeouts keys)")
    parser.add_argument("--theme", default=None, help="Textual theme name (e.g. nord, "
                        "gruvbox, textual-light); NO_COLOR=1 turns colour off (Textual "
                        "honours it)")
    parser.add_argument("--incident-dir", default=None, metavar="DIR",
                        help="where `S` saves incident snapshots (default: current directory)")
    parser.add_argument("--lab", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.interval < 0.1 or args.interval > 3600:
        raise LvstopError(f"--interval {args.interval:g}: use 0.1 to 3600 seconds")
    from pathlib import Path

    from lvstop.tui.real import real_sources

    sources = real_sources(interfaces=args.iface, vrrp=not args.no_vrrp,
                           read_only=args.read_only)
    from lvstop.tui.app import LvstopApp

    app = LvstopApp(sources, interval=args.interval, read_only=args.read_only, lab=args.lab,
                    incident_dir=Path(args.incident_dir) if args.incident_dir else None)
    if args.theme:
        if args.theme not in app.available_themes:
            raise LvstopError(f"unknown theme {args.theme!r}; one of "
                              + ", ".join(sorted(app.available_themes)))
        app.theme = args.theme
    result = app.run()
    return int(result or 0)
