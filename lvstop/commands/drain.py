"""`lvstop drain KEY`: weight 0, remembering the weight for `lvstop restore`."""

from __future__ import annotations

import argparse

from lvstop.commands._writes import KEY_HELP, add_write_options, writer

NAME = "drain"
HELP = "drain a real server (weight 0; its weight is remembered for restore)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("real_server", metavar="REAL_SERVER", help=KEY_HELP)
    add_write_options(parser)


def run(args: argparse.Namespace) -> int:
    print(writer(args).drain(args.real_server))
    return 0
