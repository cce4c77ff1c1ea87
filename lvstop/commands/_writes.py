"""Shared bits of the one-shot write commands (weight, drain, restore, timeouts)."""

from __future__ import annotations

import argparse
from typing import Any

from lvstop.actions import add_write_options

__all__ = [
    "KEY_HELP",
    "add_write_options",
    "keepalived_warning",
    "warn_if_keepalived_manages",
    "writer",
]

KEY_HELP = (
    "the real server, as lvstop names it: SERVICE->ADDRESS:PORT, e.g. "
    "tcp:10.0.5.96:8888->10.0.5.91:8888 (fwm:4->10.0.5.91:0, "
    "tcp:[2001:db8::1]:80->[2001:db8::5]:80)"
)


def writer(args: argparse.Namespace) -> Any:
    from lvstop import actions, sudo

    sudo.check_write_options(args.audit_log, args.state_file)  # under sudo: binding defaults
    return actions.make_writer(audit_log=args.audit_log, state_file=args.state_file)


def keepalived_warning(rs_key: str) -> str | None:
    """The warning for a hand-made weight change of ``rs_key`` when this director's keepalived
    manages it (``Drift.drain_warning``: configured weight, FILE:LINE). Reads keepalived's
    config and the kernel table only: no signal to keepalived."""
    import os

    from lvstop.errors import LvstopError
    from lvstop.sources import keepalived_conf, keepalived_state
    from lvstop.sources.ipvs import read_snapshot
    from lvstop.track.drift import compute_drift

    procs = keepalived_state.own_netns_processes(keepalived_state.find_processes())
    parent = next((p for p in procs if p.role == "parent"), None)
    if parent is None:
        return None
    path = parent.config_path or keepalived_conf.DEFAULT_CONFIG
    rooted = f"/proc/{parent.pid}/root{path if os.path.isabs(path) else '/' + path}"
    try:
        config = keepalived_conf.parse_file(rooted if os.path.exists(rooted) else path)
        drift = compute_drift(config, read_snapshot(), None)
    except (LvstopError, OSError) as exc:
        return f"cannot tell whether keepalived manages it: {exc}"
    return drift.drain_warning(rs_key)


def warn_if_keepalived_manages(rs_key: str) -> None:
    import sys

    warning = keepalived_warning(rs_key)
    if warning:
        print(f"lvstop: warning: {warning}", file=sys.stderr)
