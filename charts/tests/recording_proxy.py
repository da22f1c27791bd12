"""An HTTP proxy in front of the devcluster emulator that records every
Kubernetes API request one client makes, as RBAC sees it: verb, API group,
resource, subresource, namespace and name. One proxy per component (operator,
gateway) tells whose request each was. Responses, watches included, are
streamed through unchanged.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "te", "upgrade"}


@dataclass(frozen=True)
class Request:
    """One request in RBAC's terms (k8s.io/apiserver's RequestInfo)."""

    verb: str
    group: str | None  # None: a non-resource URL (discovery, /version)
    resource: str
    subresource: str
    namespace: str
    name: str
    path: str

    def __str__(self) -> str:
        if self.group is None:
            return f"{self.verb} {self.path}"
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        group = self.group or "core"
        where = f" in {self.namespace}" if self.namespace else " (cluster)"
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {group}/{what}{named}{where}"


def request_info(method: str, target: str) -> Request:
    """What the API server's authorizer is asked for `method target`."""
    url = urlsplit(target)
    query = parse_qs(url.query)
    parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        rest = []
        group = None
    if group is None or not rest:
        return Request(method.lower(), None, "", "", "", "", url.path)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        # The Namespace object itself.
        rest = ["namespaces", rest[1]]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    watch = query.get("watch", [""])[0] in ("true", "1")
    if not name:
        # list and watch name an object only through a metadata.name field selector.
        for selector in query.get("fieldSelector", []):
            for term in selector.split(","):
                if term.startswith("metadata.name="):
                    name = term.split("=", 1)[1]
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method == "GET" or method == "HEAD":
        verb = "watch" if watch else ("get" if len(rest) > 1 else "list")
    elif method == "DELETE":
        verb = "delete" if len(rest) > 1 else "deletecollection"
    else:
        verb = verbs.get(method, method.lower())
    return Request(verb, group, resource, subresource, namespace, name, url.path)


class RecordingProxy:
    """Listens on 127.0.0.1:<port>, forwards to `upstream` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                with proxy._lock:
                    proxy.requests.append(request_info(self.command, self.path))
                upstream_conn = http.client.HTTPConnection(*upstream)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                try:
                    upstream_conn.request(self.command, self.path, body=body, headers=headers)
                    response = upstream_conn.getresponse()
                except OSError:
                    # The emulator is gone (the test is stopping): what a dead server looks like.
                    self.send_error(502)
                    self.close_connection = True
                    return
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in HOP_BY_HOP:
                        self.send_header(key, value)
                if self.command == "HEAD" or response.status in (204, 304):
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    upstream_conn.close()
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    while chunk := response.read1(65536):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (http.client.HTTPException, OSError):
                    # Either side went away mid-stream (a watch ended by shutdown):
                    # end this connection as the server would have.
                    self.close_connection = True
                finally:
                    upstream_conn.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def recorded(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
