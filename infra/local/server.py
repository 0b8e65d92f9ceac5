"""The embedded AWS's HTTP endpoint: moto's application on werkzeug, keeping connections open as AWS's endpoints do.

werkzeug's development server (moto's `ThreadedMotoServer`) answers every request with `Connection: close`: the
standard library's handler cannot tell whether the application read the whole body before the next request line.
Here the handler reads the body first (by its Content-Length) and hands the application a copy, so the connection
can carry the next request: a client that keeps its connections (boto3, the predict function's SigV4 client) pays
for one connect and one thread start per connection, not per call. A chunked body, a client that asks to
close, or an application that fails after starting its answer (which werkzeug cannot finish) still closes. Each
connection has its own thread (werkzeug's threaded server): a Lambda invocation that calls back into the
embedded AWS never waits for a free worker. Four of moto's costs per request are cut: each
host's backend is looked up once, each response class's methods are listed once, and DynamoDB's requests skip
Flask and its items are serialized and projected by `infra/local/dynamodb_answers.py`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import BaseWSGIServer, make_server

from infra.local.dynamodb_answers import answer_dynamodb, is_dynamodb, use_fast_answers

IDLE_SECONDS = 120  # an idle kept connection is closed after this (clients reconnect, as with AWS)
FAILED = "mlops.application_failed"  # set in a request's environ when the application raised mid-answer


class KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    keep_alive = False

    def setup(self) -> None:
        super().setup()
        # a kept connection leaves TCP's quick-ACK start: the body's write after the headers' would wait for the
        # client's delayed ACK (40 ms) under Nagle's algorithm
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.open_connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.open_connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # a kept connection idle for IDLE_SECONDS, closed as AWS would
            return
        super().log_error(format, *args)

    def run_wsgi(self) -> None:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        if chunked or self.headers.get("Connection", "").lower() == "close":
            super().run_wsgi()
            return
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.send_error(400, f"Content-Length is not a number of bytes: {declared!r}")
            return
        wire, length = self.rfile, int(declared)
        self.rfile = io.BytesIO(wire.read(length) if length else b"")
        self.keep_alive = True  # for this answer only: an error http.server sends itself still closes
        try:
            super().run_wsgi()
        finally:
            self.rfile, self.keep_alive = wire, False
        if getattr(self, "environ", {}).get(FAILED):
            # the answer may have stopped short of its Content-Length: the client would wait for the rest
            self.close_connection = True

    def send_header(self, keyword: str, value: str) -> None:
        if self.keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            return  # werkzeug always sends it; the body was read whole, so the connection stays usable
        super().send_header(keyword, value)


def _marking_failures(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterator[bytes]]:
    """`app`, with FAILED set in the environ of a request it raised on after starting its answer (before, werkzeug
    answers 500 in full, and the connection can carry the next request)."""

    def marked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        started = False

        def starting(*args: Any) -> Any:
            nonlocal started
            started = True
            return start_response(*args)

        try:
            yield from app(environ, starting)
        except Exception:
            environ[FAILED] = started
            raise

    return marked


def wsgi_server(ip_address: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded werkzeug server of `app` on `ip_address:port` whose connections are kept open."""
    server = make_server(ip_address, port, _marking_failures(app), threaded=True, request_handler=KeepAliveHandler)
    server.open_connections = set()  # type: ignore[attr-defined]  # closed by EmbeddedAwsServer.stop()
    return server


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with each host's backend looked up once: moto matches a host against its package's
    folders (listing them, about 60 stat calls) and then its services' URL patterns on every request, a fifth
    of an online-store read's time on loopback. DynamoDB's requests go to its handler without Flask."""

    MAX_HOSTS = 1024  # hosts are few (the endpoint's, and one per service and region it infers); a bound anyway

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if is_dynamodb(environ):
            return answer_dynamodb(environ, start_response)
        return super().__call__(environ, start_response)

    def get_backend_for_host(self, host: str | None) -> Any:
        if host in self._backends:
            return self._backends[host]
        backend = super().get_backend_for_host(host)
        if len(self._backends) < self.MAX_HOSTS:
            self._backends[host] = backend  # the answer depends on the host alone (moto's fixed tables)
        return backend


def list_methods_once() -> None:
    """Have moto list each response class's methods once (idempotent). moto finds an action's handler by
    listing the class's methods (`inspect.getmembers`, about a hundred members) on every call, a tenth of an
    online-store read's time on loopback; a class's methods do not change while it serves."""
    from moto.core import responses

    if not hasattr(responses.method_names_from_class, "cache_info"):
        responses.method_names_from_class = functools.cache(responses.method_names_from_class)


class EmbeddedAwsServer:
    """moto's server in a thread of this process, on `ip_address:port`."""

    def __init__(self, ip_address: str, port: int) -> None:
        self.ip_address, self.port = ip_address, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmbeddedAwsServer:
        use_fast_answers()  # this process's moto: DynamoDB's items copied, not walked shape by shape
        list_methods_once()
        self._server = wsgi_server(self.ip_address, self.port, _Dispatcher(create_backend_app))
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering, kept connections included (their threads would serve a client for minutes more)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            for connection in list(self._server.open_connections):  # type: ignore[attr-defined]
                with contextlib.suppress(OSError):  # the client closed it meanwhile
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
