"""OTLP trace receivers for ``ldai-otel serve``: gRPC ``TraceService/Export`` and HTTP ``POST /v1/traces``.

Both answer as the OTLP specification says:

* success: an ``ExportTraceServiceResponse``, with ``partial_success``
  (``rejected_spans`` and an ``error_message``) when some spans were rejected
  (no valid trace id or span id, or unreadable);
* HTTP: 400 with a ``google.rpc.Status`` for a body that cannot be decoded
  (bad protobuf, bad JSON, a broken gzip stream), 415 for a content type
  other than ``application/x-protobuf`` and ``application/json``, 413 for a
  body over the size limit (or more spans than ``--max-spans``), 401 without
  the bearer token when one is set, 429 with ``Retry-After`` while the trace
  buffer is full, 503 with ``Retry-After`` while LaunchDarkly emission is
  behind or while shutting down; the response body in the request's encoding;
* gRPC: ``INVALID_ARGUMENT``, ``RESOURCE_EXHAUSTED`` (too large; without
  ``RetryInfo``, so not retried), ``UNAUTHENTICATED``, ``RESOURCE_EXHAUSTED``
  with a ``RetryInfo`` (buffer full: retryable), ``UNAVAILABLE`` (LaunchDarkly
  behind, shutting down) likewise.

gRPC runs on grpcio's thread pool, with the gRPC health service beside the
trace service; HTTP (``serve.receiver_http``) on aiohttp, with ``GET /healthz`` and
``GET /metrics`` (Prometheus text) beside ``/v1/traces``.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.otlp.decode import SpanDecoder, fix_json_ids, load_proto
from ldai_otel.serve.spool import Position, SegmentLog, SpoolFull
from ldai_otel.serve.trace_stats import FULL, Refused
from ldai_otel.serve.traces import TraceBuffer

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)

LAUNCHDARKLY_BEHIND = "launchdarkly_behind"
# Refusal reasons (metric labels and log fields), besides the buffer's BUFFER_FULL and TOO_MANY_SPANS.
SHUTTING_DOWN = "shutting_down"
UNAUTHENTICATED = "unauthenticated"
BAD_REQUEST = "bad_request"
TOO_LARGE = "too_large"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TRACES_PATH = "/v1/traces"
SERVICE_NAME = "opentelemetry.proto.collector.trace.v1.TraceService"


class Ingest:
    """Decodes an export request and hands its spans to the trace buffer.

    Args:
        decoder: OTLP spans to facts: a ``SpanDecoder``, or a function of a request
            to its facts that does its own locking (serve shares one with the spool).
        buffer: Where the facts go.
        token: Bearer token the requests must carry; empty for none.
        backlogged: Whether emission to LaunchDarkly is behind (requests are then
            refused, retryable, before their spans are read).
        retry_after_s: The ``Retry-After`` / ``RetryInfo`` delay of a refusal.
        on_refused: Called with (protocol, reason, status, message) per refused request.
        spool: Where accepted requests are written, durably before the answer; None for none.
    """

    def __init__(
        self,
        decoder: SpanDecoder | Callable[[Any], list[Any]],
        buffer: TraceBuffer,
        token: str = "",
        backlogged: Callable[[], bool] = lambda: False,
        retry_after_s: int = 1,
        on_refused: Callable[[str, str, object, str], None] | None = None,
        spool: SegmentLog | None = None,
    ):
        self._spool = spool
        self._on_refused = on_refused
        self._decode = decoder if callable(decoder) else self._locked(decoder)
        self._buffer = buffer
        self._token = token
        self._backlogged = backlogged
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()  # the decoder is shared by the receivers' threads
        self.accepting = True
        self.json_format, _, self.request_class = load_proto()

    def _locked(self, decoder: SpanDecoder) -> Callable[[Any], list[Any]]:
        def decode(request: Any) -> list[Any]:
            with self._lock:
                return list(decoder.decode(request))

        return decode

    def refused(self, protocol: str, reason: str, status: object, message: str) -> None:
        """Reports a refused request (metrics, log line); never raises."""
        if self._on_refused is not None:
            try:
                self._on_refused(protocol, reason, status, message)
            except Exception:
                _logger.exception("ldai-otel serve: counting a refusal failed")

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header value carries the token (always, when none is set)."""
        if not self._token:
            return True
        expected = "Bearer " + self._token
        return header is not None and hmac.compare_digest(header.encode("utf-8"), expected.encode("utf-8"))

    def export(self, request: Any, raw: bytes | None = None) -> tuple[int, str]:
        """Takes one ``ExportTraceServiceRequest``; returns (rejected span count, message).

        With a spool, the request (``raw``: its protobuf bytes when at hand) is
        written once admitted and is durable, as the fsync policy says, on return.

        Raises:
            Refused: Nothing was taken (buffer full, spool full, LaunchDarkly behind, too many spans).
        """
        if self._backlogged():
            raise Refused(LAUNCHDARKLY_BEHIND, True, "LaunchDarkly event emission is behind: retry later")
        facts = self._decode(request)
        valid = [f for f in facts if f.trace_id and f.span_id]
        rejected = len(facts) - len(valid)
        spool = self._spool
        if spool is None or not valid:
            self._buffer.add(valid)
        else:
            payload = raw if raw is not None else request.SerializeToString()

            written: list[Position] = []

            def record() -> Position:
                try:
                    written.append(spool.append(payload))
                except SpoolFull as full:
                    raise Refused(full.reason, True, str(full)) from full
                return written[0]

            self._buffer.add(valid, record=record)
            if written:
                spool.sync(written[0].seq)  # durable before the acknowledgement (group commit)
        if rejected:
            _warn.warning("ldai-otel serve: rejected %d span(s) without a valid trace id or span id", rejected)
            return rejected, "%d span(s) without a valid trace id and span id were rejected" % rejected
        return 0, ""

    def parse(self, body: bytes, content_type: str) -> Any:
        """A request body (already decompressed) as an ``ExportTraceServiceRequest``.

        Raises:
            ValueError: It cannot be decoded.
        """
        request = self.request_class()
        if content_type == PROTOBUF:
            try:
                request.ParseFromString(body)
            except Exception as exc:  # protobuf's DecodeError, and worse on garbage
                raise ValueError("undecodable protobuf: %s" % exc) from exc
            return request
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise ValueError("undecodable JSON: %s" % exc) from exc
        if not isinstance(document, dict):
            raise ValueError("the JSON body is not an object")
        fix_json_ids(document)
        try:
            self.json_format.ParseDict(document, request, ignore_unknown_fields=True)
        except Exception as exc:
            raise ValueError("not an OTLP JSON export request: %s" % str(exc)[:200]) from exc
        return request

    def response(self, rejected: int, message: str) -> Any:
        """The ``ExportTraceServiceResponse`` for an export."""
        response = self._response_class()
        if rejected:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
        return response

    @property
    def _response_class(self) -> Any:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return ExportTraceServiceResponse


# --- gRPC ------------------------------------------------------------------------------


def start_grpc(ingest: Ingest, address: str, max_request_bytes: int, tls: tuple[bytes, bytes] | None) -> Any:
    """Starts the gRPC receiver and the gRPC health service; returns (server, bound port, health servicer).

    The health service (``grpc.health.v1.Health``) answers SERVING for ``""`` and
    the trace service until :func:`stop_health` (shutdown), then NOT_SERVING.
    """
    import grpc  # type: ignore[import-untyped,unused-ignore]
    from grpc_health.v1 import health as health_module  # type: ignore[import-untyped,unused-ignore]
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped,unused-ignore]

    health: Any = health_module  # partly annotated: treated as Any
    add_health: Any = health_pb2_grpc.add_HealthServicer_to_server
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the service's method name
            if not ingest.accepting:
                refuse(context, grpc.StatusCode.UNAVAILABLE, SHUTTING_DOWN, "shutting down")
            metadata = dict(context.invocation_metadata())
            if not ingest.authorized(metadata.get("authorization")):
                refuse(context, grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED, "a bearer token is required")
            request, raw = request
            if isinstance(request, Exception):
                message = "undecodable request: %s" % str(request)[:200]
                refuse(context, grpc.StatusCode.INVALID_ARGUMENT, BAD_REQUEST, message)
            try:
                rejected, message = ingest.export(request, raw)
            except Refused as refused:
                refuse_buffer(context, refused, ingest.retry_after_s)
            except Exception:
                _logger.exception("ldai-otel serve: export failed")
                context.abort(grpc.StatusCode.INTERNAL, "export failed")
            return ingest.response(rejected, message)

    def refuse(context: Any, code: Any, reason: str, message: str) -> None:
        ingest.refused("grpc", reason, code.name, message)
        context.abort(code, message)

    def refuse_buffer(context: Any, refused: Refused, retry_after_s: int) -> None:
        # OTLP: RESOURCE_EXHAUSTED is retryable only with a RetryInfo in the status details;
        # UNAVAILABLE always is. A request over the whole bound gets no RetryInfo.
        if refused.reason in FULL:
            status, info = _retry_details(8, refused.message, retry_after_s)
            # The status details for the Collector (Go); the bare RetryInfo for the Python exporter.
            context.set_trailing_metadata((("grpc-status-details-bin", status), ("google.rpc.retryinfo-bin", info)))
            refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, refused.reason, refused.message)
        code = grpc.StatusCode.UNAVAILABLE if refused.retryable else grpc.StatusCode.RESOURCE_EXHAUSTED
        refuse(context, code, refused.reason, refused.message)

    def lenient(data: bytes) -> Any:
        # grpcio answers a request its deserializer rejects with INTERNAL; OTLP
        # wants INVALID_ARGUMENT, so the error is handed to Export to answer.
        # The bytes go along: the spool writes them as they came.
        request = ingest.request_class()
        try:
            request.ParseFromString(data)
        except Exception as exc:
            return ValueError(str(exc)), data
        return request, data

    servicer = TraceService()
    # The stubs' add_TraceServiceServicer_to_server, with the lenient deserializer.
    handler = grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                servicer.Export,
                request_deserializer=lenient,
                response_serializer=lambda response: response.SerializeToString(),
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="ldai-otel-grpc"),
        handlers=[handler],
        options=[("grpc.max_receive_message_length", max_request_bytes), ("grpc.so_reuseport", 0)],
    )
    health_servicer: Any = health.HealthServicer()
    add_health(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if tls is not None:
        credentials = grpc.ssl_server_credentials([(tls[1], tls[0])])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if not port:
        raise OSError("cannot listen on %s (gRPC)" % address)
    server.start()
    return server, port, health_servicer


def stop_health(health_servicer: Any) -> None:
    """Turns every service NOT_SERVING (watchers are told), before the server stops."""
    health_servicer.enter_graceful_shutdown()


def _retry_details(code: int, message: str, retry_after_s: int) -> tuple[bytes, bytes]:
    """A serialized ``google.rpc.Status`` carrying a ``RetryInfo``, and the ``RetryInfo``."""
    from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]

    info = error_details_pb2.RetryInfo()
    info.retry_delay.seconds = retry_after_s
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(info)
    return bytes(status.SerializeToString()), bytes(info.SerializeToString())
