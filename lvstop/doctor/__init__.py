"""``lvstop doctor``: the notes' classic LVS/keepalived mistakes as automatic checks.

``facts.gather()`` reads the host once (sysctls and addresses from /proc and netlink, the IPVS
table, keepalived's config, processes and ``keepalived -t``, VRRP adverts heard for a few
seconds) into a frozen ``Facts``; the checks are pure functions of it, grouped by module:
``director`` (this host balances), ``peer`` (two directors' configs side by side) and
``realserver`` (this host is a DR/TUN real server). Each check gives ok / warn / fail / skip
with one line of why and one line of fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lvstop.doctor.facts import Facts

from lvstop.model.jsonform import JsonModel

SCHEMA = "lvstop.doctor/1"
STATUSES = ("ok", "warn", "fail", "skip")


@dataclass(frozen=True, slots=True)
class CheckResult(JsonModel):
    id: str
    status: str  # ok | warn | fail | skip
    summary: str  # one line: why
    fix: str = ""  # one line: what to do ("" when nothing)


def ok(check_id: str, summary: str) -> CheckResult:
    return CheckResult(check_id, "ok", summary)


def warn(check_id: str, summary: str, fix: str) -> CheckResult:
    return CheckResult(check_id, "warn", summary, fix)


def fail(check_id: str, summary: str, fix: str) -> CheckResult:
    return CheckResult(check_id, "fail", summary, fix)


def skip(check_id: str, summary: str) -> CheckResult:
    return CheckResult(check_id, "skip", summary)


def run_all(facts: Facts) -> list[CheckResult]:
    """Every check that applies to the host ``facts`` describe, in a stable order."""
    from lvstop.doctor import director, peer, realserver

    results: list[CheckResult] = []
    if facts.role in ("director", "both"):
        results.extend(director.checks(facts))
    if facts.peer_config is not None:
        results.extend(peer.checks(facts.config, facts.peer_config))
    if facts.role in ("real-server", "both"):
        results.extend(realserver.checks(facts))
    return results


def document(results: list[CheckResult], role: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "role": role, "checks": [r.to_dict() for r in results]}
