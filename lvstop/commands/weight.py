"""`lvstop weight KEY N`: set a real server's weight (verified, audited)."""

from __future__ import annotations

import argparse

from lvstop.commands._writes import (
    KEY_HELP,
    add_write_options,
    warn_if_keepalived_manages,
    writer,
)

NAME = "weight"
HELP = "set a real server's weight (read back and written to the audit log)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real_server", metavar="REAL_SERVER", help=KEY_HELP)
    parser.add_argument("weight", metavar="WEIGHT", type=int, help="0 to 65535")
    add_write_options(parser)


def run(args: argparse.Namespace) -> int:
    result = writer(args).set_weight(args.real_server, args.weight)
    warn_if_keepalived_manages(args.real_server)
    print(result)
    return 0
