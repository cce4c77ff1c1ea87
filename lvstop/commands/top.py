"""`lvstop top` (and plain `lvstop`): the live dashboard.

Defaults come from the config file (``lvstop.settings``: ``/etc/lvstop/lvstop.toml``, or
``$LVSTOP_CONFIG`` / ``--config``); flags given on the command line override it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from lvstop.errors import LvstopError

if TYPE_CHECKING:
    from lvstop.fleet.client import ConnectOptions, Target

NAME = "top"
HELP = "the live dashboard: services, real servers, VRRP, events, host (the default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="config file (default $LVSTOP_CONFIG, else /etc/lvstop/lvstop.toml if it exists)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="S",
        help="refresh interval in seconds (default 1)",
    )
    parser.add_argument(
        "--iface",
        action="append",
        default=None,
        metavar="IF",
        help="interface(s) to watch VRRP adverts on (default: all)",
    )
    parser.add_argument("--no-vrrp", action="store_true", help="do not capture VRRP adverts")
    parser.add_argument(
        "--read-only",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="never write to the kernel (no drain / weight / timeouts keys); "
        "--no-read-only overrides read_only = true in the config",
    )
    parser.add_argument(
        "--keepalived-state",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the dashboard signal keepalived for its state dumps: only "
        "when a real server of its config appears, vanishes or changes "
        "weight (at most every keepalived_dump_gap s, 60 by default) and "
        "on the K key; never in steady state (default: on for root, off "
        "with --read-only / read_only = true)",
    )
    parser.add_argument(
        "--theme",
        default=None,
        help="Textual theme name (e.g. nord, "
        "gruvbox, textual-light); NO_COLOR=1 turns colour off (Textual "
        "honours it)",
    )
    parser.add_argument(
        "--incident-dir",
        default=None,
        metavar="DIR",
        help="where `S` saves incident snapshots (default: current directory)",
    )
    parser.add_argument("--lab", action="store_true", help=argparse.SUPPRESS)
    fleet = parser.add_argument_group("several directors over ssh (lvstop --host)")
    fleet.add_argument(
        "--host",
        action="append",
        default=None,
        metavar="[USER@]HOST",
        help="a director to show, over your own ssh (repeatable); `local` is "
        "this machine; a group name of the config's [groups] is its hosts",
    )
    fleet.add_argument(
        "--via",
        metavar="[USER@]HOST",
        help="the full dashboard of one director over its agent (ssh): its IPVS, "
        "VRRP (its own wire), keepalived's verdicts, connections and writes",
    )
    fleet.add_argument(
        "--sudo", action="store_true", help="run the agent on each director with `sudo -n`"
    )
    fleet.add_argument(
        "--ssh-config",
        metavar="FILE",
        help="ssh's config file (ssh -F FILE; default: ssh's own, ~/.ssh/config)",
    )
    fleet.add_argument(
        "--agent",
        choices=("installed", "push"),
        default="installed",
        help="installed: a director's own lvstop when it has one, else the "
        "agent file sent over ssh (default); push: always the file",
    )


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """The config file's values under the flags given: a namespace with every option set."""
    from pathlib import Path

    from lvstop import settings, sudo

    # under sudo: /etc/lvstop/lvstop.toml only, and its read_only and folders binding
    sudo.check_dashboard_config(getattr(args, "config", None))
    conf = settings.load(getattr(args, "config", None))
    sudo.check_dashboard_options(
        getattr(args, "read_only", None), conf.read_only, getattr(args, "incident_dir", None)
    )
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
    if getattr(args, "host", None):
        return run_fleet(args)
    if getattr(args, "via", None):
        return run_via(args)
    from lvstop.actions import make_writer
    from lvstop.tui.real import real_sources

    sources = real_sources(
        make_writer(),
        interfaces=args.iface,
        vrrp=not args.no_vrrp,
        read_only=args.read_only,
        keepalived_no_signals=no_signals_reason(args),
        keepalived_min_gap=args.keepalived_dump_gap,
    )
    from lvstop.tui.app import LvstopApp

    app = LvstopApp(
        sources,
        interval=args.interval,
        read_only=args.read_only,
        lab=args.lab,
        incident_dir=args.incident_dir,
    )
    if args.theme:
        if args.theme not in app.available_themes:
            where = f" (from {args.config_path})" if args.config_path and args.theme else ""
            raise LvstopError(
                f"unknown theme {args.theme!r}{where}; one of "
                + ", ".join(sorted(app.available_themes))
            )
        app.theme = args.theme
    from lvstop.tui.pollers import responsive_loop

    with responsive_loop():
        result = app.run()
    return int(result or 0)


def fleet_targets(hosts: list[str], groups: dict[str, tuple[str, ...]]) -> list[Target]:
    """The directors ``--host`` names (groups expanded, each once, in order)."""
    from lvstop.fleet.client import parse_target

    names: list[str] = []
    for host in hosts:
        for name in groups.get(host, (host,)):
            if name not in names:
                names.append(name)
    return [parse_target(name) for name in names]


def connect_options(args: argparse.Namespace) -> ConnectOptions:
    from lvstop.fleet.client import ConnectOptions

    return ConnectOptions(
        interval=args.interval,
        sudo=args.sudo,
        agent=args.agent,
        iface=tuple(args.iface or ()),
        vrrp=not args.no_vrrp,
        read_only=args.read_only,
        ssh_options=("-F", args.ssh_config) if args.ssh_config else (),
    )


def via_argv(args: argparse.Namespace, host: str) -> list[str]:
    """``lvstop top --via HOST`` with this run's options (the fleet's `f` key runs it)."""
    import sys

    argv = [
        sys.executable,
        "-m",
        "lvstop",
        "top",
        "--via",
        host,
        "--interval",
        f"{args.interval:g}",
        "--agent",
        args.agent,
    ]
    argv += ["--sudo"] if args.sudo else []
    argv += ["--read-only"] if args.read_only else []
    argv += ["--no-vrrp"] if args.no_vrrp else []
    argv += ["--ssh-config", args.ssh_config] if args.ssh_config else []
    for name in args.iface or ():
        argv += ["--iface", name]
    return argv


def run_via(args: argparse.Namespace) -> int:
    from lvstop.fleet.client import AgentClient, parse_target
    from lvstop.tui.app import LvstopApp
    from lvstop.tui.remote import agent_sources

    client = AgentClient(parse_target(args.via), connect_options(args))
    app = LvstopApp(
        agent_sources(client, vrrp=not args.no_vrrp),
        interval=args.interval,
        read_only=args.read_only,
        incident_dir=args.incident_dir,
    )
    app.title = f"lvstop via {args.via}"
    if args.theme and args.theme in app.available_themes:
        app.theme = args.theme
    return int(app.run() or 0)


def run_fleet(args: argparse.Namespace) -> int:
    from lvstop import settings
    from lvstop.fleet.client import AgentClient

    conf = settings.load(getattr(args, "config", None))
    targets = fleet_targets(args.host, dict(conf.groups))
    options = connect_options(args)
    from lvstop.tui.fleet.app import FleetApp

    clients = [AgentClient(t, options) for t in targets]
    app = FleetApp(
        clients, interval=args.interval, dashboard_argv=lambda name: via_argv(args, name)
    )
    if args.theme:
        if args.theme not in app.available_themes:
            raise LvstopError(f"unknown theme {args.theme!r}")
        app.theme = args.theme
    return int(app.run() or 0)
