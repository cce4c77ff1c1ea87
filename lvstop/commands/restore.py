"""`lvstop restore KEY`: give a drained real server its remembered weight back."""

from __future__ import annotations

import argparse

from lvstop.commands._writes import (
    KEY_HELP,
    add_write_options,
    warn_if_keepalived_manages,
    writer,
)

NAME = "restore"
HELP = "restore a drained real server's remembered weight (or --weight N)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real_server", metavar="REAL_SERVER", help=KEY_HELP)
    parser.add_argument("--weight", type=int, help="this weight instead of the remembered one")
    add_write_options(parser)


def run(args: argparse.Namespace) -> int:
    result = writer(args).restore(args.real_server, args.weight)
    warn_if_keepalived_manages(args.real_server)
    print(result)
    return 0
