"""`lvstop timeouts TCP TCPFIN UDP`: set the IPVS timeouts like `ipvsadm --set`."""

from __future__ import annotations

import argparse

from lvstop.commands._writes import add_write_options, writer

NAME = "timeouts"
HELP = "set the tcp / tcpfin / udp timeouts in seconds (0 leaves one unchanged)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tcp", type=int, help="TCP established timeout (0 = unchanged)")
    parser.add_argument("tcpfin", type=int, help="TCP after FIN timeout (0 = unchanged)")
    parser.add_argument("udp", type=int, help="UDP timeout (0 = unchanged)")
    add_write_options(parser)


def run(args: argparse.Namespace) -> int:
    print(writer(args).set_timeouts(args.tcp, args.tcpfin, args.udp))
    return 0
