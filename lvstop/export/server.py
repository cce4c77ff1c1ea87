"""The HTTP side of ``lvstop export``: ``GET /metrics`` (and ``HEAD``) and nothing else.

Served from threads (``ThreadingHTTPServer``), each scrape reads the one snapshot published
last (``Published``); no request changes anything, every other method is refused (501) and
every other path is 404. It binds exactly the address it is given.
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lvstop.errors import LvstopError
from lvstop.export.metrics import Published
from lvstop.model.ipvs import split_endpoint

#: what ``generate_latest`` writes: the classic text format (Prometheus 2 reads it)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INDEX = (
    b"<html><head><title>lvstop export</title></head><body><h1>lvstop export</h1>"
    b'<p><a href="/metrics">Metrics</a></p></body></html>\n'
)


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` / ``[IPV6]:PORT`` → (address, port); ValueError with the reason."""
    parts = split_endpoint(text)
    if parts is None:
        raise ValueError(f"bad --listen {text!r}: expected ADDR:PORT or [IPV6]:PORT")
    host, port = parts
    if not host:
        raise ValueError(
            f"bad --listen {text!r}: give the address to bind "
            "(0.0.0.0 for every IPv4 address, if that is really meant)"
        )
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"bad --listen {text!r}: {host!r} is not an IP address") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad --listen {text!r}: port must be 1-65535")
    return address, int(port)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    server_version = "lvstop-export"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _send(
        self, code: int, body: bytes, content_type: str, head: bool, encoding: str | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _answer(self, head: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, INDEX, "text/html; charset=utf-8", head)
            return
        if path != "/metrics":
            self._send(404, b"not found: try /metrics\n", "text/plain; charset=utf-8", head)
            return
        body = self.server.published.body()
        if body is None:  # only before the first poll, which runs before the server starts
            self._send(503, b"no snapshot yet\n", "text/plain; charset=utf-8", head)
            return
        accept = self.headers.get("Accept-Encoding", "")
        if "gzip" in accept:
            self._send(200, self.server.gzipped(body), CONTENT_TYPE, head, "gzip")
        else:
            self._send(200, body, CONTENT_TYPE, head)

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per scrape on stderr is noise; errors reach the client


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], published: Published) -> None:
        self.published = published
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._gz_lock = threading.Lock()
        self._gz: tuple[bytes, bytes] | None = None
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6:
            # [::]:PORT means IPv6 only, as written: no silent IPv4 too
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        super().server_bind()

    def gzipped(self, body: bytes) -> bytes:
        """``body`` compressed, once per snapshot (two Prometheus servers scrape one)."""
        with self._gz_lock:
            if self._gz is None or self._gz[0] is not body:
                self._gz = (body, gzip.compress(body, compresslevel=1))
            return self._gz[1]


def serve(address: tuple[str, int], published: Published) -> MetricsServer:
    """Bind ``address`` and serve in a daemon thread; LvstopError in one line."""
    try:
        server = MetricsServer(address, published)
    except OSError as exc:
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        raise LvstopError(f"cannot listen on {host}:{address[1]}: {exc.strerror or exc}") from None
    thread = threading.Thread(target=server.serve_forever, name="lvstop-export-http", daemon=True)
    thread.start()
    return server
