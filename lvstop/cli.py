"""Command line entry point: argument parsing and dispatch to ``lvstop.commands.*``.

Each module in ``lvstop/commands`` is a subcommand. It defines ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int`` and keeps heavy imports (scapy, textual,
pyroute2) inside ``run`` so that ``lvstop --help`` stays instant and needs no privilege.
The module named ``top`` is the dashboard, run when no subcommand is given.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from lvstop import __version__
from lvstop.errors import LvstopError, one_line
from lvstop.safetext import EscapingStream, escape_controls

DEFAULT_COMMAND = "top"


def _command_names() -> list[str]:
    import lvstop.commands as pkg

    # os.listdir rather than pkgutil.iter_modules: pkgutil (with inspect) is 8 ms of every
    # start-up, a third of `lvstop vrrp --pcap` on a small capture
    names = set()
    for folder in pkg.__path__:
        for entry in os.listdir(folder):
            stem, _, ext = entry.partition(".")
            if stem.isidentifier() and (
                ext == "py"
                or (not ext and os.path.exists(os.path.join(folder, entry, "__init__.py")))
            ):
                names.add(stem)
    return sorted(name for name in names if not name.startswith("_"))


def _command_modules(only: str | None = None) -> list[ModuleType]:
    """The subcommand modules; with ``only``, just that one (a module is named as its NAME)."""
    modules = []
    for name in [only] if only else _command_names():
        module = importlib.import_module(f"lvstop.commands.{name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return modules


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(
        prog="lvstop",
        description="htop for Linux Virtual Server directors: IPVS services and real servers, "
        "VRRP masters and failovers, keepalived, live. Without a subcommand it starts the "
        "dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"lvstop {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, ModuleType] = {}
    for module in _command_modules(only):
        sub_parser = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        commands[module.NAME] = module
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    names = _command_names()
    # `lvstop --interval 2` means the dashboard with that option: no subcommand given.
    starts_with_option = not args_list or (
        args_list[0].startswith("-") and args_list[0] not in ("-h", "--help", "--version")
    )
    if starts_with_option and DEFAULT_COMMAND in names:
        args_list.insert(0, DEFAULT_COMMAND)
    # Import only the command asked for: `lvstop vrrp --pcap` starts as fast as it can.
    only = args_list[0] if args_list and args_list[0] in names else None
    parser, commands = build_parser(only)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 0
    # Names, passwords and config words from packets, capture files and configs reach every
    # command's output: control characters in them are written visibly, whatever the path.
    saved = sys.stdout, sys.stderr
    sys.stdout = EscapingStream(sys.stdout)
    sys.stderr = EscapingStream(sys.stderr)
    try:
        return int(commands[args.command].run(args) or 0)
    except LvstopError as exc:
        print(f"lvstop: {escape_controls(str(exc), keep_newlines=False)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `lvstop dump | head`: the reader left; that is not an error worth a traceback.
        sys.stderr.close()
        return 0
    except OSError as exc:  # the kernel's reason in one line, never a traceback
        print(f"lvstop: {escape_controls(one_line(exc), keep_newlines=False)}", file=sys.stderr)
        return 2
    finally:
        sys.stdout, sys.stderr = saved


if __name__ == "__main__":
    sys.exit(main())
