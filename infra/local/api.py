"""The REST API on a loopback port: HTTP requests become API Gateway proxy events for the real handler."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.local.deploy import Route
from infra.local.runner import FunctionError, FunctionRunner

STAGE = "local"


def _compile(route: Route) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(route.path))
    return re.compile(f"^{pattern}$")


def proxy_event(
    *,
    method: str,
    raw_path: str,
    route: Route,
    params: dict[str, str],
    headers: dict[str, str],
    body: str | None,
    source_ip: str,
) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event, as API Gateway sends it to a Lambda proxy integration."""
    url = urlsplit(raw_path)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    now = datetime.now(UTC)
    return {
        "resource": route.path,
        "path": url.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: v for k, v in parse_qs(url.query).items()} or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path,
            "httpMethod": method,
            "path": f"/{STAGE}{url.path}",
            "stage": STAGE,
            "requestId": str(uuid.uuid4()),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "accountId": "123456789012",
            "apiId": "local",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
        },
        "body": body,
        "isBase64Encoded": False,
    }


class LocalApi:
    """Serves the deployed API Gateway routes on 127.0.0.1."""

    def __init__(self, routes: list[Route], runner: FunctionRunner, port: int = 0, api_key: str | None = None) -> None:
        self.routes = [(route, _compile(route)) for route in routes]
        self.runner = runner
        self.api_key = api_key
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # access logs are not printed locally
                return

            def _serve(self) -> None:
                api.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LocalApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        path_exists = False
        for route, pattern in self.routes:
            found = pattern.match(path)
            if found:
                path_exists = True
                if route.method == method:
                    return route, found.groupdict(), True
        return None, {}, path_exists

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        started = time.perf_counter()
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode("utf-8", errors="replace") if length else None
        route, params, path_exists = self._match(request.command, urlsplit(request.path).path)
        if route is None:
            # API Gateway's own answers for unknown paths and methods.
            self._send(request, 403 if not path_exists else 405, {"message": "Missing Authentication Token"}, {})
            return
        if route.api_key_required and self.api_key and request.headers.get("x-api-key") != self.api_key:
            self._send(request, 403, {"message": "Forbidden"}, {})
            return
        headers = {k: v for k, v in request.headers.items()}
        event = proxy_event(
            method=request.command,
            raw_path=request.path,
            route=route,
            params=params,
            headers=headers,
            body=body,
            source_ip=request.client_address[0],
        )
        try:
            response = self.runner.invoke(route.function, event)
        except FunctionError:
            self._send(request, 502, {"message": "Internal server error"}, {})
            return
        out_headers = dict(response.get("headers") or {})
        out_headers["X-Local-Latency-Ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        self._send_raw(request, int(response["statusCode"]), response.get("body") or "", out_headers)

    def _send(
        self, request: BaseHTTPRequestHandler, status: int, document: dict[str, Any], headers: dict[str, str]
    ) -> None:
        self._send_raw(request, status, json.dumps(document), {"Content-Type": "application/json", **headers})

    @staticmethod
    def _send_raw(request: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
