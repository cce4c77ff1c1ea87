"""Shared bits of the one-shot write commands (weight, drain, restore, timeouts)."""

from __future__ import annotations

import argparse
from typing import Any

KEY_HELP = ("the real server, as lvstop names it: SERVICE->ADDRESS:PORT, e.g. "
            "tcp:10.0.5.96:8888->10.0.5.91:8888 (fwm:4->10.0.5.91:0, "
            "tcp:[2001:db8::1]:80->[2001:db8::5]:80)")


def add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--audit-log", metavar="PATH",
                        help="audit log file (default $LVSTOP_AUDIT_LOG or "
                        "/var/log/lvstop/audit.log); every write is also sent to syslog")
    parser.add_argument("--state-file", metavar="PATH",
                        help="where drained weights are remembered (default "
                        "$LVSTOP_STATE_FILE or /var/lib/lvstop/drained.json)")


def writer(args: argparse.Namespace) -> Any:
    from lvstop import actions, sudo

    sudo.check_write_options(args.audit_log, args.state_file)  # under sudo: binding defaults
    return actions.configure(audit_log=args.audit_log, state_file=args.state_file)
