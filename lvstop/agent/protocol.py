"""The ``lvstop.agent/1`` protocol: JSON lines between ``lvstop agent`` and its client.

Standard library only: this module is part of the self-contained agent file pushed to
directors that have no lvstop installed (``lvstop.agent.bundle``).

The agent's state is a set of *sections*, each a mapping key → JSON value (a service by its
key, a real server by its key, a VRID by its key, ...). The agent sends it whole once
(``snapshot``) and then only what changed (``update``: per section the keys set to a new value
and the keys deleted). Nothing changed: nothing sent, but a ``tick`` every ``HEARTBEAT``
seconds so that the client can tell a quiet director from a hung one.

Agent → client lines (each one JSON object with a ``type``):

    hello     schema, lvstop, host, kernel, python, keepalived, uid, capabilities, interval,
              problems
    snapshot  seq, time, state: {section: {key: value}}
    update    seq, time, set: {section: {key: value}}, del: {section: [key, ...]}
    tick      seq, time
    event     time, source, kind, text (things the agent saw happen: VRRP events, keepalived
              state changes)
    result    id, ok: true, and the write's action, target, before, after, message (or
              conns; vrrp: snapshot; keepalived: running, verdicts, dumped_at, ...)
    error     id (null when the line carried none), error: one line

Client → agent lines: ``{"id": ID, "op": OP, ...}``; each id is answered once, by a
``result`` or an ``error``. See ``OPS`` for the operations and their arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lvstop.model.ipvs import MAX_TIMEOUT, MAX_WEIGHT

SCHEMA = "lvstop.agent/1"

#: the sections of the agent's state (``README.md`` documents each value's shape)
SECTIONS = (
    "service",  # service key -> Service.to_dict() without real_servers
    "real_server",  # real server key -> RealServer.to_dict() plus "service"
    "ipvs",  # "timeouts" | "daemons" | "error" -> value
    "vrid",  # VridState key -> the wire's view (volatile counters left out)
    "instance",  # keepalived vrrp_instance name -> its state on this director
    "keepalived",  # "status" -> running, pid, started, config, source, problems
    "host",  # "stats" -> load, cpu, memory (rounded; sent at most every HOST_EVERY s)
    "drained",  # real server key -> weight remembered by a drain
    "addresses",  # "local" -> sorted addresses this director holds
)

#: seconds without any line after which the agent sends a ``tick``
HEARTBEAT = 10.0
#: the longest request line the agent reads (longer: an error, the line skipped)
MAX_REQUEST = 4096
#: connection entries one ``conns`` request returns at most
MAX_CONNS = 2000

#: op -> (required arguments, optional arguments)
OPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "drain": (("rs",), ()),
    "restore": (("rs",), ("weight",)),
    "weight": (("rs", "weight"), ()),
    "timeouts": ((), ("tcp", "tcpfin", "udp")),
    "conns": ((), ("service", "rs", "limit")),
    # added in lvstop.agent/1 after its first release (an older agent answers "unknown op");
    # they are asked for by a dashboard over the agent (lvstop top --via), never by the fleet
    "vrrp": ((), ("events_after",)),
    "keepalived": ((), ("ask",)),
    "ping": ((), ()),
}
WRITE_OPS = frozenset({"drain", "restore", "weight", "timeouts"})

State = dict[str, dict[str, Any]]


def empty_state() -> State:
    return {name: {} for name in SECTIONS}


def diff_state(old: State, new: State) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """What turns ``old`` into ``new``: (set, del), each empty when nothing changed."""
    changed: dict[str, dict[str, Any]] = {}
    deleted: dict[str, list[str]] = {}
    for section in SECTIONS:
        before = old.get(section, {})
        after = new.get(section, {})
        values = {k: v for k, v in after.items() if k not in before or before[k] != v}
        gone = sorted(k for k in before if k not in after)
        if values:
            changed[section] = values
        if gone:
            deleted[section] = gone
    return changed, deleted


def apply_update(state: State, changed: Any, deleted: Any) -> None:
    """Apply an ``update``'s set / del to ``state`` in place; ValueError on a malformed one."""
    if not isinstance(changed, dict) or not isinstance(deleted, dict):
        raise ValueError("update: set and del must be objects")
    for section, values in changed.items():
        if section not in state or not isinstance(values, dict):
            raise ValueError(f"update: unknown section {section!r}")
        state[section].update(values)
    for section, keys in deleted.items():
        if section not in state or not isinstance(keys, list):
            raise ValueError(f"update: unknown section {section!r}")
        for key in keys:
            state[section].pop(str(key), None)


def load_state(data: Any) -> State:
    """A ``snapshot``'s state, checked: unknown sections refused, missing ones empty."""
    if not isinstance(data, dict):
        raise ValueError("snapshot: state must be an object")
    state = empty_state()
    for section, values in data.items():
        if section not in state or not isinstance(values, dict):
            raise ValueError(f"snapshot: unknown section {section!r}")
        state[section] = dict(values)
    return state


def line(message: dict[str, Any]) -> str:
    """One protocol line (compact JSON, ASCII: nothing a terminal or ssh could mangle)."""
    return json.dumps(message, separators=(",", ":"), sort_keys=True) + "\n"


@dataclass(frozen=True, slots=True)
class Request:
    id: Any
    op: str
    args: dict[str, Any]


class RequestError(ValueError):
    """A request the agent refuses before doing anything; ``id`` is the request's, if any."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.request_id = request_id


def _id_ok(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool) and len(str(value)) <= 64


def _check_int(op: str, name: str, value: Any, low: int, high: int, rid: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(
            f"{op}: {name} must be a whole number from {low} to {high}, not "
            f"{json.dumps(value)[:40]}",
            rid,
        )


def parse_request(text: str | bytes) -> Request:
    """One client line → a Request, or RequestError naming what is wrong (nothing done)."""
    if len(text) > MAX_REQUEST:
        raise RequestError(f"malformed request: longer than {MAX_REQUEST} bytes")
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"malformed request: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RequestError("malformed request: not a JSON object")
    rid = data.get("id")
    if not _id_ok(rid):
        raise RequestError(
            "malformed request: id must be a number or a string of at most 64 characters"
        )
    op = data.get("op")
    if not isinstance(op, str):
        raise RequestError("malformed request: no op", rid)
    if op not in OPS:
        shown = json.dumps(op)[:60]
        raise RequestError(f"unknown op {shown} (known: {', '.join(sorted(OPS))})", rid)
    required, optional = OPS[op]
    args = {k: v for k, v in data.items() if k not in ("id", "op")}
    missing = [k for k in required if k not in args]
    if missing:
        raise RequestError(f"{op}: missing {', '.join(missing)}", rid)
    extra = sorted(k for k in args if k not in required and k not in optional)
    if extra:
        raise RequestError(f"{op}: unknown argument {json.dumps(extra[0])[:40]}", rid)
    for name in ("rs", "service"):
        if name in args and (not isinstance(args[name], str) or len(args[name]) > 200):
            raise RequestError(f"{op}: {name} must be a string (a key as lvstop names it)", rid)
    if "weight" in args and not (op == "restore" and args["weight"] is None):
        _check_int(op, "weight", args["weight"], 0, MAX_WEIGHT, rid)
    for name in ("tcp", "tcpfin", "udp"):
        if name in args:
            _check_int(op, name, args[name], 0, MAX_TIMEOUT, rid)
    after = args.get("events_after")
    if "events_after" in args and (
        isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 <= after < 1e12
    ):
        raise RequestError(f"{op}: events_after must be a time in seconds since the epoch", rid)
    if "ask" in args and not isinstance(args["ask"], bool):
        raise RequestError(f"{op}: ask must be true or false", rid)
    if "limit" in args:
        _check_int(op, "limit", args["limit"], 1, MAX_CONNS, rid)
    return Request(rid, op, args)


def error_line(message: str, request_id: Any = None) -> str:
    return line({"type": "error", "id": request_id, "error": message})
