"""`lvstop top` (and plain `lvstop`): the live dashboard.

Defaults come from the config file (``lvstop.settings``: ``/etc/lvstop/lvstop.toml``, or
``$LVSTOP_CONFIG`` / ``--config``); flags given on the command line override it.
"""

from __future__ import annotations

import argparse

from lvstop.errors import LvstopError

NAME = "top"
HELP = "the live dashboard: services, real servers, VRRP, events, host (the default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="config file (default $LVSTOP_CONFIG, else "
                             "/etc/lvstop/lvstop.toml if it exists)")
    parser.add_argument("--interval", type=float, default=None, metavar="S",
                        help="refresh interval in seconds (default 1)")
    parser.add_argument("--iface", action="append", default=None, metavar="IF",
                        help="interface(s) to watch VRRP adverts on (default: all)")
    parser.add_argument("--no-vrrp", action="store_true", help="do not capture VRRP adverts")
    parser.add_argument("--read-only", action=argparse.BooleanOptionalAction, default=None,
                        help="never write to the kernel (no drain / weight / timeouts keys); "
                             "--no-read-only overrides read_only = true in the config")
    parser.add_argument("--keepalived-state", action=argparse.BooleanOptionalAction,
                        default=None,
                        help="let the dashboard signal keepalived for its state dumps: only "
                             "when a real server of its config appears, vanishes or changes "
                             "weight (at most every keepalived_dump_gap s, 60 by default) and "
                             "on the K key; never in steady state (default: on for root, off "
                             "with --read-only / read_only = true)")
    parser.add_argument("--theme", default=None, help="Textual theme name (e.g. nord, "
                        "gruvbox, textual-light); NO_COLOR=1 turns colour off (Textual "
                        "honours it)")
    parser.add_argument("--incident-dir", default=None, metavar="DIR",
                        help="where `S` saves incident snapshots (default: current directory)")
    parser.add_argument("--lab", action="store_true", help=argparse.SUPPRESS)


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """The config file's values under the flags given: a namespace with every option set."""
    from pathlib import Path

    from lvstop import settings, sudo

    # under sudo: /etc/lvstop/lvstop.toml only, and its read_only and folders binding
    sudo.check_dashboard_config(getattr(args, "config", None))
    conf = settings.load(getattr(args, "config", None))
    sudo.check_dashboard_options(getattr(args, "read_only", None), conf.read_only,
                                 getattr(args, "incident_dir", None))
    out = argparse.Namespace(**vars(args))

    def pick(name: str, default: object) -> object:
        given = getattr(args, name, None)
        return given if given is not None else default

    out.interval = pick("interval", conf.interval)
    out.iface = pick("iface", list(conf.iface))
    out.read_only = bool(pick("read_only", conf.read_only))
    out.theme = pick("theme", conf.theme)
    out.keepalived_dump_gap = conf.keepalived_dump_gap
    given_dir = getattr(args, "incident_dir", None)
    out.incident_dir = Path(given_dir) if given_dir else conf.incident_dir
    out.config_path = conf.path
    return out


def no_signals_reason(args: argparse.Namespace) -> str | None:
    """Why the dashboard must not signal keepalived (None: it may)."""
    from lvstop.sources.keepalived_state import can_signal

    wanted = getattr(args, "keepalived_state", None)
    if wanted is False:
        return "--no-keepalived-state"
    if wanted is None and args.read_only:
        return "read-only (--keepalived-state allows it)"
    if not can_signal():
        return "not root"
    return None


def run(args: argparse.Namespace) -> int:
    args = resolve(args)
    if args.interval < 0.1 or args.interval > 3600:
        raise LvstopError(f"--interval {args.interval:g}: use 0.1 to 3600 seconds")
    from lvstop.actions import make_writer
    from lvstop.tui.real import real_sources

    sources = real_sources(make_writer(), interfaces=args.iface, vrrp=not args.no_vrrp,
                           read_only=args.read_only,
                           keepalived_no_signals=no_signals_reason(args),
                           keepalived_min_gap=args.keepalived_dump_gap)
    from lvstop.tui.app import LvstopApp

    app = LvstopApp(sources, interval=args.interval, read_only=args.read_only, lab=args.lab,
                    incident_dir=args.incident_dir)
    if args.theme:
        if args.theme not in app.available_themes:
            where = f" (from {args.config_path})" if args.config_path and args.theme else ""
            raise LvstopError(f"unknown theme {args.theme!r}{where}; one of "
                              + ", ".join(sorted(app.available_themes)))
        app.theme = args.theme
    result = app.run()
    return int(result or 0)
