"""Test support: record the IPVS netlink exchanges of a reader in the lab, replay them on the
host (``IpvsReader(Replayer(exchanges))``). The recordings are under tests/data/ipvs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lvstop.sources import genl, ipvs
from lvstop.sources.genl import NetlinkError
from lvstop.sources.ipvs import IpvsError, IpvsNetlink, ipvs_error


def read_whole(cmd: int, msg: bytes) -> bool:
    """Whether the decoder reads this service / real-server message whole, as Linux writes
    it (its fast path), rather than walking it attribute by attribute."""
    if cmd == ipvs.CMD_GET_SERVICE:
        return ipvs._kernel_service(msg, genl.HDRLEN, len(msg)) is not None
    size = len(msg) - genl.HDRLEN
    return any(
        layout.read(msg, genl.HDRLEN, size) is not None
        for layout in ipvs.DEST_LAYOUTS.get(size, ())
    )


def walked(exchanges: Iterable[dict[str, Any]]) -> int:
    """How many recorded service and real-server messages the decoder had to walk."""
    return sum(
        not read_whole(ex["cmd"], bytes.fromhex(m))
        for ex in exchanges
        if ex["kind"] == "dump" and ex["cmd"] in (ipvs.CMD_GET_SERVICE, ipvs.CMD_GET_DEST)
        for m in ex["replies"]
    )


class Recorder:
    """Wraps a transport and keeps every request with the raw reply messages (for tests)."""

    def __init__(self, inner: IpvsNetlink) -> None:
        self.inner = inner
        self.exchanges: list[dict[str, Any]] = []

    def dump(
        self, cmd: int, attrs: bytes, parse: Callable[[bytearray, int, int], Any], what: str
    ) -> list[Any]:
        raw: list[str] = []

        def keep(buf: bytearray, off: int, length: int) -> Any:
            raw.append(bytes(buf[off : off + length]).hex())
            return parse(buf, off, length)

        out = self.inner.dump(cmd, attrs, keep, what)
        self.exchanges.append({"kind": "dump", "cmd": cmd, "attrs": attrs.hex(), "replies": raw})
        return out

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        try:
            out = self.inner.request(cmd, attrs, what)
        except IpvsError as exc:
            self.exchanges.append(
                {
                    "kind": "request",
                    "cmd": cmd,
                    "attrs": attrs.hex(),
                    "errno": exc.errno,
                    "replies": [],
                }
            )
            raise
        self.exchanges.append(
            {"kind": "request", "cmd": cmd, "attrs": attrs.hex(), "replies": [m.hex() for m in out]}
        )
        return out

    def close(self) -> None:
        self.inner.close()


class Replayer:
    """Answers requests from a recording (the list ``Recorder.exchanges`` produced)."""

    def __init__(self, exchanges: Iterable[dict[str, Any]]) -> None:
        self._answers: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        self._keep = list(exchanges)  # keeps the ids in _bin valid
        for ex in self._keep:
            key = (ex["kind"], int(ex["cmd"]), ex["attrs"])
            self._answers.setdefault(key, []).append(ex)
        self._bin: dict[int, list[bytearray]] = {}  # decoded replies, by id of the exchange
        self.calls = 0

    def _take(self, kind: str, cmd: int, attrs: bytes, what: str) -> dict[str, Any]:
        self.calls += 1
        answers = self._answers.get((kind, cmd, attrs.hex()))
        if not answers:
            raise IpvsError(f"{what}: not in the recording")
        # the last answer is repeated when more are asked for than recorded
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def dump(
        self, cmd: int, attrs: bytes, parse: Callable[[bytearray, int, int], Any], what: str
    ) -> list[Any]:
        ex = self._take("dump", cmd, attrs, what)
        msgs = self._bin.get(id(ex))
        if msgs is None:
            msgs = self._bin[id(ex)] = [bytearray.fromhex(m) for m in ex["replies"]]
        out = []
        for m in msgs:
            item = parse(m, 0, len(m))
            if item is not None:
                out.append(item)
        return out

    def request(self, cmd: int, attrs: bytes, what: str) -> list[bytes]:
        ex = self._take("request", cmd, attrs, what)
        if ex.get("errno"):
            raise ipvs_error(
                NetlinkError(f"{what}: {genl.errno_text(ex['errno'])}", ex["errno"]), what
            )
        return [bytes.fromhex(m) for m in ex["replies"]]

    def close(self) -> None:
        pass
