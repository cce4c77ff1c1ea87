"""`lvstop drain KEY`: weight 0, remembering the weight for `lvstop restore`."""

from __future__ import annotations

import argparse

from lvstop.commands._writes import (
    KEY_HELP,
    add_write_options,
    warn_if_keepalived_manages,
    writer,
)

NAME = "drain"
HELP = "drain a real server (weight 0; its weight is remembered for restore)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real_server", metavar="REAL_SERVER", help=KEY_HELP)
    add_write_options(parser)


def run(args: argparse.Namespace) -> int:
    result = writer(args).drain(args.real_server)
    warn_if_keepalived_manages(args.real_server)
    print(result)
    return 0
