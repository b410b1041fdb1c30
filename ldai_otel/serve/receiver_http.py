"""The OTLP/HTTP receiver of ``ldai-otel serve``: ``POST /v1/traces``, ``GET /healthz``, ``GET /metrics``.

aiohttp in a thread with its own event loop; the answers are those listed in
``serve.receivers`` (the shared ``Ingest`` decodes and takes the spans).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import zlib
from collections.abc import Callable
from typing import Any

from ldai_otel.serve.receivers import (
    BAD_REQUEST,
    JSON,
    PROMETHEUS_TEXT,
    PROTOBUF,
    SHUTTING_DOWN,
    TOO_LARGE,
    TRACES_PATH,
    UNAUTHENTICATED,
    Ingest,
)
from ldai_otel.serve.trace_stats import FULL, Refused

_logger = logging.getLogger(__name__)


def _status_body(ingest: Ingest, code: int, message: str, content_type: str) -> bytes:
    from google.rpc import status_pb2  # type: ignore[import-untyped,unused-ignore]

    status = status_pb2.Status(code=code, message=message)
    if content_type == JSON:
        return str(ingest.json_format.MessageToJson(status, indent=None)).encode("utf-8")
    return bytes(status.SerializeToString())


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """The body as sent, decompressed within ``limit`` bytes (a zip bomb stops at the limit)."""
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        raise LookupError(encoding)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ValueError("broken %s stream: %s" % (encoding, exc)) from exc
    if len(data) > limit:
        raise OverflowError
    if not inflater.eof:
        raise ValueError("truncated %s stream" % encoding)
    return data


class HttpReceiver:
    """``POST /v1/traces`` (and health, metrics) on aiohttp, in a thread of its own."""

    def __init__(
        self,
        ingest: Ingest,
        address: tuple[str, int],
        max_request_bytes: int,
        exposition: Callable[[], bytes],
        ssl_context: Any = None,
    ):
        self._ingest = ingest
        self._address = address
        self._max = max_request_bytes
        self._exposition = exposition
        self._ssl = ssl_context
        self._loop = asyncio.new_event_loop()
        self._runner: Any = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="ldai-otel-http", daemon=True)
        self.port = 0

    def start(self) -> int:
        """Binds and starts serving; returns the bound port."""
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self.port

    async def _start(self) -> int:
        from aiohttp import web

        # The raw body is read by the handler (with its own limit, compressed
        # bodies included), so aiohttp's own limit is only a backstop.
        app = web.Application(client_max_size=self._max + 1)
        app.router.add_post(TRACES_PATH, self._traces)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._prometheus)
        # auto_decompress off: the handler inflates gzip itself, within the size limit.
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._address[0], self._address[1], ssl_context=self._ssl)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else self._address[1]

    def stop(self) -> None:
        """Stops accepting and closes the listener; in-flight requests finish first."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    async def _health(self, request: Any) -> Any:
        from aiohttp import web

        if self._ingest.accepting:
            return web.Response(text="ok\n")
        return web.Response(text="stopping\n", status=503)

    async def _prometheus(self, request: Any) -> Any:
        from aiohttp import web

        body = await asyncio.get_running_loop().run_in_executor(None, self._exposition)
        return web.Response(body=body, headers={"Content-Type": PROMETHEUS_TEXT})

    async def _traces(self, request: Any) -> Any:
        from aiohttp import web

        ingest = self._ingest
        content_type = request.content_type  # lower-cased, without parameters
        answer_type = content_type if content_type in (PROTOBUF, JSON) else PROTOBUF

        def fail(status: int, code: int, message: str, reason: str = BAD_REQUEST) -> Any:
            ingest.refused("http", reason, status, message)
            return web.Response(
                status=status,
                body=_status_body(ingest, code, message, answer_type),
                content_type=answer_type,
            )

        if not ingest.accepting:
            response = fail(503, 14, "shutting down", SHUTTING_DOWN)
            response.headers["Retry-After"] = "5"
            return response
        if not ingest.authorized(request.headers.get("Authorization")):
            return fail(401, 16, "a bearer token is required", UNAUTHENTICATED)
        if content_type not in (PROTOBUF, JSON):
            return fail(415, 3, "unsupported content type %r: use %s or %s" % (content_type[:60], PROTOBUF, JSON))
        if request.content_length is not None and request.content_length > self._max:
            return fail(413, 8, "request body over %d bytes" % self._max, TOO_LARGE)
        try:
            raw = await request.content.read(self._max + 1)
            if len(raw) > self._max:
                return fail(413, 8, "request body over %d bytes" % self._max, TOO_LARGE)
            body = _decompress(raw, request.headers.get("Content-Encoding", "").strip().lower(), self._max)
            message = ingest.parse(body, content_type)
        except OverflowError:
            return fail(413, 8, "decompressed request body over %d bytes" % self._max, TOO_LARGE)
        except LookupError as exc:
            return fail(415, 3, "unsupported content encoding %r" % str(exc)[:40])
        except ValueError as exc:
            return fail(400, 3, str(exc)[:300])
        loop = asyncio.get_running_loop()
        try:
            raw = body if content_type == PROTOBUF else None
            rejected, text = await loop.run_in_executor(None, ingest.export, message, raw)
        except Refused as refused:
            if not refused.retryable:
                return fail(413, 8, refused.message, refused.reason)
            # 429 for a full buffer or spool, 503 while LaunchDarkly emission is behind: both retryable.
            response = fail(
                429 if refused.reason in FULL else 503,
                8 if refused.reason in FULL else 14,
                refused.message,
                refused.reason,
            )
            response.headers["Retry-After"] = str(ingest.retry_after_s)
            return response
        except Exception:
            _logger.exception("ldai-otel serve: export failed")
            return fail(500, 13, "export failed")
        response = ingest.response(rejected, text)
        if content_type == JSON:
            body_out = ingest.json_format.MessageToJson(response, indent=None).encode("utf-8")
        else:
            body_out = response.SerializeToString()
        return web.Response(status=200, body=body_out, content_type=content_type)
