"""`lvstop agent`: this director as lvstop.agent/1 JSON lines on stdin/stdout (what
`lvstop --host` runs over ssh)."""

from __future__ import annotations

import argparse

NAME = "agent"
HELP = (
    "this director's IPVS, VRRP, keepalived and host as lvstop.agent/1 JSON lines on "
    "stdout, writes asked for on stdin (what `lvstop --host` runs over ssh)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lvstop.agent.server import add_arguments as agent_arguments

    agent_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from lvstop.agent.server import run as run_agent

    return run_agent(args)
