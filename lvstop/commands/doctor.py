"""``lvstop doctor``: check this director or real server for the classic LVS/keepalived
mistakes (the operator notes' pitfalls). Exit 1 when a check fails."""

from __future__ import annotations

import argparse
import json
import sys

NAME = "doctor"
HELP = (
    "check this director / real server for the classic LVS + keepalived mistakes (sends "
    "keepalived no signal: reads its config, processes and the kernel; runs the installed "
    "keepalived -t once)"
)

_MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print lvstop.doctor/1 JSON")
    parser.add_argument(
        "--config", metavar="PATH", help="keepalived.conf (default: the running keepalived's)"
    )
    parser.add_argument(
        "--peer-config",
        metavar="PATH",
        help="the other director's keepalived.conf, to compare what must and must not differ",
    )
    parser.add_argument("--config-id", metavar="ID", help="keepalived's -i for @ID lines")
    parser.add_argument(
        "--role",
        choices=("auto", "director", "real-server", "both"),
        default="auto",
        help="what this host is (auto: a director when keepalived or IPVS services run here)",
    )
    parser.add_argument(
        "--listen",
        type=float,
        default=3.5,
        metavar="SECONDS",
        help="listen this long for other clusters' VRRP adverts (0: do not; needs root)",
    )


def run(args: argparse.Namespace) -> int:
    from lvstop.doctor import document, run_all
    from lvstop.doctor.facts import gather

    facts = gather(
        config_path=args.config,
        peer_config_path=args.peer_config,
        config_id=args.config_id,
        role=args.role,
        listen_seconds=max(0.0, args.listen),
    )
    results = run_all(facts)
    if args.json:
        json.dump(document(results, facts.role), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"lvstop doctor: this host is a {facts.role}")
        for res in results:
            print(f"{_MARK.get(res.status, res.status)}  {res.id:<32} {res.summary}")
            if res.fix and res.status in ("warn", "fail"):
                print(f"      {'':<32} fix: {res.fix}")
        counts = {s: sum(1 for r in results if r.status == s) for s in ("ok", "warn", "fail")}
        print(f"{counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail")
    return 1 if any(r.status == "fail" for r in results) else 0
