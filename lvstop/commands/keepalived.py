"""``lvstop keepalived``: keepalived's config as lvstop reads it, its processes and own view,
and how the kernel table differs from both.

Without ``--config`` the running keepalived's ``-f`` file is used (read through its
``/proc/<pid>/root``), else /etc/keepalived/keepalived.conf. ``--json`` prints the
``lvstop.keepalived/1`` document (``runtime`` and ``drift`` keys added when there is something
to say). keepalived is signalled for its dumps only with ``--keepalived-state`` (on by default
for root); nothing from the config is ever executed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from lvstop.errors import LvstopError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from lvstop.doctor.facts import HeardAdvert
    from lvstop.model.keepalived import KeepalivedConfig, KeepalivedVersion
    from lvstop.track.drift import Drift

NAME = "keepalived"
HELP = (
    "keepalived's config, processes and own state, lined up with the kernel's IPVS table "
    "(signals keepalived once per run for its state dumps; --no-keepalived-state: never)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="keepalived.conf to read (default: the running keepalived's -f file, else "
        "/etc/keepalived/keepalived.conf)",
    )
    parser.add_argument(
        "--config-id",
        metavar="ID",
        help="keepalived's -i/--config-id for @ID lines (default: the running keepalived's, "
        "else the host name)",
    )
    parser.add_argument("--json", action="store_true", help="print lvstop.keepalived/1 JSON")
    parser.add_argument(
        "--keepalived-state",
        dest="keepalived_state",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="signal keepalived for its data/JSON dumps: one round per run, logged by "
        "keepalived as 'Printing ... on signal' (default: on for root)",
    )
    parser.add_argument(
        "--listen",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="listen this long to VRRP adverts to put the wire's verdict next to keepalived's "
        "state (needs root; default 0: do not)",
    )
    parser.add_argument(
        "--no-version",
        action="store_true",
        help="do not run the installed keepalived's --version (root-owned /usr/sbin/keepalived "
        "or /usr/local/sbin/keepalived only)",
    )
    parser.add_argument(
        "--no-kernel",
        action="store_true",
        help="do not read the IPVS table (config and keepalived only)",
    )


def _config_id_from(cmdline: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg in ("-i", "--config-id") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--config-id="):
            return arg.split("=", 1)[1]
    return None


def gather(args: argparse.Namespace) -> dict[str, Any]:
    """Read everything; returns the pieces (config, runtime, ipvs, drift) for printing."""
    from lvstop.sources import keepalived_conf, keepalived_state
    from lvstop.track.drift import compute_drift

    scanned = keepalived_state.scan_processes()
    procs = keepalived_state.own_netns_processes(keepalived_state.find_processes(scanned))
    parent = next((p for p in procs if p.role == "parent"), None)
    config_path = args.config
    config_id = args.config_id
    if config_path is None:
        if parent is not None and parent.config_path:
            path = parent.config_path
            if not os.path.isabs(path):
                path = os.path.join("/", path)
            rooted = f"/proc/{parent.pid}/root{path}"
            config_path = rooted if os.path.exists(rooted) else path
        else:
            config_path = keepalived_conf.DEFAULT_CONFIG
    if config_id is None and parent is not None:
        config_id = _config_id_from(parent.cmdline)
    if args.config is None and parent is None and not os.path.exists(config_path):
        raise LvstopError(
            f"keepalived is not running here and {config_path} does not exist; give --config"
        )
    # this host's config: judge it on this host's interfaces (keepalived starts an instance in
    # FAULT without an address of its family); a config given with --config may be another's
    interfaces = keepalived_conf.host_interfaces() if args.config is None else None
    config = keepalived_conf.parse_file(config_path, config_id=config_id, interfaces=interfaces)
    version = None
    if not getattr(args, "no_version", False):
        from lvstop.sources.keepalived_version import read_version

        version = read_version()

    want_state = args.keepalived_state
    if want_state is None:
        want_state = keepalived_state.can_signal()
    runtime = None
    if parent is not None:
        chosen = tuple(p for p in procs if p.pid == parent.pid or p.ppid == parent.pid)
        runtime = keepalived_state.read_runtime(
            global_defs=config.global_defs, request_dumps=want_state, processes=chosen
        )
    ipvs = None
    ipvs_error = None
    if not args.no_kernel and config.virtual_servers:
        try:
            from lvstop.sources.ipvs import read_snapshot

            ipvs = read_snapshot()
        except LvstopError as exc:
            ipvs_error = str(exc)
        except OSError as exc:
            ipvs_error = f"cannot read the IPVS table: {exc}"
    wire = None
    local: set[str] = set()
    wire_error = None
    if getattr(args, "listen", 0) and config.vrrp_instances:
        from lvstop.doctor.facts import listen, read_addresses

        try:
            local = {a.address for a in read_addresses()}
            wire = wire_masters(listen(args.listen, None))
        except LvstopError as exc:
            wire_error = str(exc)
    drift = compute_drift(config, ipvs, runtime, wire, local)
    return {
        "config": config,
        "runtime": runtime,
        "ipvs": ipvs,
        "ipvs_error": ipvs_error,
        "drift": drift,
        "all_processes": procs,
        "wire_error": wire_error,
        "ignored": keepalived_state.ignored_processes(scanned),
        "version": version,
    }


def wire_masters(adverts: Iterable[HeardAdvert]) -> dict[tuple[str, int], str]:
    """(family, VRID) -> the source of the highest-priority advert heard (the master)."""
    best: dict[tuple[str, int], tuple[int, str]] = {}
    for adv in adverts:
        key = (adv.family, adv.vrid)
        prio = adv.priority or 0
        if key not in best or prio > best[key][0]:
            best[key] = (prio, adv.src)
    return {key: src for key, (_prio, src) in best.items()}


def to_document(pieces: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = pieces["config"].to_dict()
    runtime = pieces["runtime"]
    doc["runtime"] = None if runtime is None else runtime.to_dict()
    doc["drift"] = pieces["drift"].to_dict() if pieces["ipvs"] is not None else None
    doc["kernel_error"] = pieces["ipvs_error"]
    doc["ignored_processes"] = pieces.get("ignored", [])
    version = pieces.get("version")
    doc["keepalived_version"] = None if version is None else version.to_dict()
    return doc


def _fmt_age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def render_text(pieces: dict[str, Any]) -> str:
    """The text view: the config and the keepalived processes, then one section each for
    the VRRP instances, the virtual servers, the differences and the warnings."""
    lines = [
        *_config_lines(pieces),
        *_process_lines(pieces),
        "",
        *_instance_lines(pieces["config"], pieces["drift"]),
        "",
        *_server_lines(pieces),
        *_difference_lines(pieces["config"]),
    ]
    return "\n".join(lines)


def _config_lines(pieces: dict[str, Any]) -> list[str]:
    config = pieces["config"]
    lines: list[str] = []
    lines.append(
        f"config  {config.files[0]}"
        + (f" (+{len(config.files) - 1} included)" if len(config.files) > 1 else "")
    )
    lines.append(
        f"        router_id {config.router_id or '-'}   config-id {config.config_id}"
        + ("   vrrp_strict" if config.global_defs.vrrp_strict else "")
    )
    lines.append(_rules_line(config.rules, pieces.get("version")))
    version = pieces.get("version")
    if version is not None and version.warning:
        lines.append(f"        warning: {version.warning}")
    if config.errors:
        lines.append("")
        lines.append(f"Errors: keepalived would not run this config ({len(config.errors)})")
        for error in config.errors:
            lines.append(f"  {error}")
    return lines


def _process_lines(pieces: dict[str, Any]) -> list[str]:
    runtime = pieces["runtime"]
    lines: list[str] = []
    if runtime is None or not runtime.running:
        lines.append("keepalived  not running")
    else:
        parent = runtime.parent
        assert parent is not None
        kids = ", ".join(f"{p.role} {p.pid}" for p in runtime.processes if p.role != "parent")
        ns = parent.netns_name or parent.netns or "?"
        lines.append(
            f"keepalived  pid {parent.pid} up {_fmt_age(parent.uptime(runtime.taken_at))}"
            f"  ({kids or 'no children'})  netns {ns}"
        )
        for dump in runtime.dumps:
            if dump.status != "fresh":
                extra = f": {dump.detail}" if dump.detail else ""
                lines.append(f"            {dump.kind} dump {dump.status} ({dump.path}){extra}")
        for problem in runtime.problems:
            lines.append(f"            {problem}")
    for ignored in pieces.get("ignored", []):
        lines.append(f"            {ignored}")
    return lines


def _instance_lines(config: KeepalivedConfig, drift: Drift) -> list[str]:
    lines = ["VRRP instances"]
    by_name = {i.name: i for i in drift.instances}
    for inst in config.vrrp_instances:
        d = by_name.get(inst.name)
        now = d.keepalived_state if d is not None and d.keepalived_state else "-"
        if d is not None and d.wire_state is not None:
            now += f"/wire {d.wire_state}" + ("" if d.agree is not False else " (!)")
        vips = " ".join(v.address for v in inst.virtual_ipaddress)
        lines.append(
            f"  {inst.name:<12} vrid {inst.virtual_router_id!s:<4} {inst.state or 'BACKUP':<7} "
            f"prio {inst.priority:<4} now {now:<7} {inst.interface or '-':<8} {vips}"
        )
        if inst.fault:
            lines.append(f"               keepalived starts it in FAULT here: {inst.fault}")
    if not config.vrrp_instances:
        lines.append("  (none)")
    return lines


def _server_lines(pieces: dict[str, Any]) -> list[str]:
    config = pieces["config"]
    drift = pieces["drift"]
    lines = ["Virtual servers"]
    if pieces["ipvs"] is None:
        for cvs in config.virtual_servers:
            lines.append(f"  {cvs.label}  {cvs.protocol} {cvs.lb_algo} {cvs.lb_kind}")
            for crs in cvs.real_servers:
                checks = ", ".join(c.describe() for c in crs.checks) or "no checker"
                lines.append(f"    -> {crs.address}:{crs.port or 0:<6} w {crs.weight:<4} {checks}")
    for vs in drift.virtual_servers if pieces["ipvs"] is not None else ():
        mark = "" if vs.verdict == "ok" else f"  [{vs.verdict}: {vs.detail}]"
        lines.append(f"  {vs.label}{mark}")
        for rs in vs.real_servers:
            weight = f"w {rs.configured_weight}" if rs.configured_weight is not None else "w -"
            kernel = "" if rs.kernel_weight is None else f" kernel {rs.kernel_weight}"
            lines.append(
                f"    -> {rs.address}:{rs.port:<6} {weight}{kernel:<10} {rs.verdict:<9} {rs.detail}"
            )
    if not drift.virtual_servers:
        lines.append("  (none)")
    if pieces["ipvs_error"]:
        lines.append(f"  kernel table not read: {pieces['ipvs_error']}")
    return lines


def _difference_lines(config: KeepalivedConfig) -> list[str]:
    lines: list[str] = []
    if config.differences:
        lines.append("")
        lines.append(
            f"Differences: what keepalived runs instead of what the file says "
            f"({len(config.differences)})"
        )
        for diff in config.differences:
            what = f"{diff.subject} {diff.field}".strip()
            was = "(not written)" if diff.written is None else diff.written
            now = "dropped" if diff.effective is None else diff.effective
            lines.append(f"  {diff.file}:{diff.line}: {what}: {was} -> {now}")
            lines.append(f"      {diff.reason}")
    # a difference's own warning is listed once, with the difference
    said = {(d.file, d.line, f"{d.subject}: {d.reason}") for d in config.differences}
    warnings = [
        w for w in config.warnings if w.level != "error" and (w.file, w.line, w.message) not in said
    ]
    if warnings:
        lines.append("")
        lines.append(f"Warnings ({len(warnings)})")
        for warning in warnings:
            lines.append(f"  {warning}")
    return lines


def _rules_line(rules: str, version: KeepalivedVersion | None) -> str:
    if version is None:
        installed = "installed version not read"
    elif version.binary is None:
        installed = "no keepalived installed here"
    else:
        installed = f"installed {version.version or '?'} ({version.binary})"
    return f"rules   keepalived {rules} (the values below are what it runs; {installed})"


def run(args: argparse.Namespace) -> int:
    pieces = gather(args)
    if args.json:
        json.dump(to_document(pieces), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(render_text(pieces))
    if pieces["config"].errors:
        first = pieces["config"].errors[0]
        print(
            f"lvstop: error: keepalived would not run this config: "
            f"{first.file}:{first.line}: {first.message}",
            file=sys.stderr,
        )
        return 1
    return 0
