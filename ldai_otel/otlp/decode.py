"""OTLP decoding: protobuf ``TracesData`` / ``ExportTraceServiceRequest`` to span facts.

Shared by ``ldai-otel inspect`` (files) and ``ldai-otel serve`` (the network).
Each OTLP span becomes a :class:`~ldai_otel.otlp.assembly.SpanFacts`: its ids,
parent, timing, status, its run mark (the ``ld.ai_config.*`` identity of a
run's root) and what the dialects observe in it. The span itself is not kept.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.dialects.reader import MARKER_KEYS, Dialects
from ldai_otel.evaluations.mapped_events import OBSERVATION_KEY as EVALUATIONS_KEY
from ldai_otel.evaluations.mapped_events import evaluations_in
from ldai_otel.model import attributes as A
from ldai_otel.otlp.assembly import LD_TRACKED, RunMark, SpanFacts

_warn = RateLimitedLogger(logging.getLogger(__name__))

UNKNOWN_SERVICE = "unknown_service"
INSTALL_HINT = "this needs opentelemetry-proto: pip install 'ldai-otel[inspect]' (or '[serve]')"

_HEX = frozenset("0123456789abcdefABCDEF")
_ID_KEYS = (
    ("traceId", 32),
    ("spanId", 16),
    ("parentSpanId", 16),
    ("trace_id", 32),
    ("span_id", 16),
    ("parent_span_id", 16),
)

SpanHook = Callable[[SpanFacts, dict[str, Any]], SpanFacts]
"""Called with each span's facts and attributes; returns the facts to keep (inspect adds diagnostics)."""


def any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as the Python value the SDK would hold."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if which == "bytes_value":
        return bytes(value.bytes_value)
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return None


def attributes(key_values: Any) -> dict[str, Any]:
    """OTLP ``KeyValue`` list as a dict."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def _id_to_base64(value: Any, hex_length: int) -> Any:
    """OTLP JSON writes ids as hex; protobuf's JSON reads bytes as base64."""
    if isinstance(value, str) and len(value) == hex_length and not (set(value) - _HEX):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def fix_json_ids(document: dict[str, Any]) -> None:
    """Rewrites OTLP JSON's hex ids as base64 in place, so protobuf's JSON parser reads them.

    Anything not shaped like OTLP is left as it is, for the parser to reject.
    """
    for resource_spans in _list(document.get("resourceSpans") or document.get("resource_spans")):
        if not isinstance(resource_spans, dict):
            continue
        for scope_spans in _list(resource_spans.get("scopeSpans") or resource_spans.get("scope_spans")):
            if not isinstance(scope_spans, dict):
                continue
            for span in _list(scope_spans.get("spans")):
                if not isinstance(span, dict):
                    continue
                for key, length in _ID_KEYS:
                    if key in span:
                        span[key] = _id_to_base64(span[key], length)
                for link in _list(span.get("links")):
                    if isinstance(link, dict):
                        for key, length in (("traceId", 32), ("spanId", 16)):
                            if key in link:
                                link[key] = _id_to_base64(link[key], length)


def _strings(value: Any) -> tuple[str, ...]:
    """A string, or an array of strings (a multi-context), as a tuple; anything else as ()."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return ()


_MAX_GRAPH_CHARS = 1 << 16
"""An ``ld.ai_config.graph`` attribute longer than this is ignored (real graphs: a few hundred bytes)."""


def run_mark(attrs: dict[str, Any], trace_id: int, service: str) -> RunMark | object | None:
    """The run mark a span's attributes carry: a :class:`RunMark`, :data:`LD_TRACKED`, or None.

    The attribute contract (docs/serve.md, "Marking a run, in any language"): ``ld.ai_config.key`` marks a
    run's root; ``variation_key``, ``version``, ``run_id`` (default: the trace
    id as UUID text), ``model_name``, ``provider_name``, ``context.kind`` /
    ``context.key``, ``emitter`` and ``entry`` are optional. A span carrying
    ``launchdarkly.run.id`` was written by one of LaunchDarkly's own AI SDKs,
    which send their own events.
    """
    if A.LAUNCHDARKLY_RUN_ID in attrs:
        tracked: object = LD_TRACKED
        return tracked
    config_key = attrs.get(A.LD_AI_CONFIG_KEY)
    if not isinstance(config_key, str) or not config_key:
        return None
    from ldai_otel.model.run import run_id_for_trace

    run_id = attrs.get(A.LD_AI_CONFIG_RUN_ID)
    if not isinstance(run_id, str) or not run_id:
        run_id = run_id_for_trace(trace_id)
    variation = attrs.get(A.LD_AI_CONFIG_VARIATION_KEY)
    version = attrs.get(A.LD_AI_CONFIG_VERSION)
    model = attrs.get(A.LD_AI_CONFIG_MODEL_NAME)
    provider = attrs.get(A.LD_AI_CONFIG_PROVIDER_NAME)
    graph = attrs.get(A.LD_AI_CONFIG_GRAPH)
    entry = attrs.get(A.LD_AI_CONFIG_ENTRY)
    context_kinds = _strings(attrs.get(A.LD_AI_CONFIG_CONTEXT_KIND))
    context_keys = _strings(attrs.get(A.LD_AI_CONFIG_CONTEXT_KEY))
    if len(context_kinds) != len(context_keys):
        context_kinds = context_keys = ()
    return RunMark(
        run_id=run_id,
        config_key=config_key,
        variation_key=variation if isinstance(variation, str) else "",
        version=version if isinstance(version, int) and not isinstance(version, bool) else 0,
        model_name=model if isinstance(model, str) else "",
        provider_name=provider if isinstance(provider, str) else "",
        context_kinds=context_kinds,
        context_keys=context_keys,
        emitted_in_process=attrs.get(A.LD_AI_CONFIG_EMITTER) == A.LD_AI_CONFIG_EMITTER_VALUE,
        service=service,
        graph=graph if isinstance(graph, str) and len(graph) <= _MAX_GRAPH_CHARS else "",
        entry=entry if isinstance(entry, str) and len(entry) <= 32 else "",
    )


class SpanDecoder:
    """Turns parsed OTLP trace messages into :class:`SpanFacts`, reading spans with the dialects.

    Args:
        dialects: The processor's span readers.
        hook: Optional ``fn(facts, attributes) -> facts`` for callers that keep more (inspect).
        evaluation_metrics: Evaluation name -> metric key: mapped ``gen_ai.evaluation.result``
            span events of a GenAI span are kept on its observation (``serve``).
    """

    def __init__(
        self, dialects: Dialects, hook: SpanHook | None = None, evaluation_metrics: Mapping[str, str] | None = None
    ):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

        self._dialects = dialects
        self._hook = hook
        self._evaluation_metrics = dict(evaluation_metrics) if evaluation_metrics else None
        self._Event = Event
        self._ReadableSpan = ReadableSpan
        self._Resource = Resource
        self._Scope = InstrumentationScope
        self._SpanContext = SpanContext
        self._kinds = {
            1: SpanKind.INTERNAL,
            2: SpanKind.SERVER,
            3: SpanKind.CLIENT,
            4: SpanKind.PRODUCER,
            5: SpanKind.CONSUMER,
        }
        self._internal = SpanKind.INTERNAL
        self._statuses = {0: Status(StatusCode.UNSET), 1: Status(StatusCode.OK)}
        self._Status = Status
        self._error = StatusCode.ERROR
        # Most spans in a trace stream are not GenAI spans and carry no run mark. With
        # the built-in dialects only (a span with a non-marker attribute is never
        # "may observe") and no hook, such a span is told by its attribute keys alone,
        # without converting a single attribute value.
        plain_may_observe = dialects.may_observe(SimpleNamespace(attributes={"-": 0}))  # type: ignore[arg-type]
        self._telling_keys: frozenset[str] | None = (
            None if hook is not None or plain_may_observe else MARKER_KEYS | {A.LAUNCHDARKLY_RUN_ID, A.LD_AI_CONFIG_KEY}
        )

    def decode(self, message: Any) -> Iterator[SpanFacts]:
        """Every span of a ``TracesData`` or ``ExportTraceServiceRequest``, as facts.

        A span that cannot be read comes out with trace id and span id 0.
        """
        for resource_spans in message.resource_spans:
            resource_attrs = attributes(resource_spans.resource.attributes)
            service = resource_attrs.get(A.SERVICE_NAME)
            service = service if isinstance(service, str) and service else UNKNOWN_SERVICE
            resource = self._Resource(resource_attrs)
            for scope_spans in resource_spans.scope_spans:
                scope = self._Scope(scope_spans.scope.name, scope_spans.scope.version or None)
                for span in scope_spans.spans:
                    try:
                        yield self._facts(span, service, resource, scope)
                    except Exception as exc:
                        # A span no reader can take (a dialect choking on it): an
                        # invalid one, which receivers reject and count.
                        _warn.warning("ldai-otel: a span could not be read (%s); rejecting it", type(exc).__name__)
                        yield SpanFacts(0, 0, 0)

    def _facts(self, span: Any, service: str, resource: Any, scope: Any) -> SpanFacts:
        trace_id = int.from_bytes(span.trace_id, "big") if len(span.trace_id) == 16 else 0
        span_id = int.from_bytes(span.span_id, "big") if len(span.span_id) == 8 else 0
        parent_id = int.from_bytes(span.parent_span_id, "big") if len(span.parent_span_id) == 8 else 0
        error = span.status.code == 2
        facts = SpanFacts(trace_id, span_id, parent_id)
        facts.name = span.name
        facts.scope = scope.name
        facts.service = service
        facts.start_ns = span.start_time_unix_nano
        facts.end_ns = span.end_time_unix_nano
        facts.error = error
        telling = self._telling_keys
        if telling is not None and telling.isdisjoint([kv.key for kv in span.attributes]):
            return facts  # no run mark, nothing for the dialects: ids, timing and status are all it takes
        attrs = attributes(span.attributes)
        facts.mark = run_mark(attrs, trace_id, service)
        if self._dialects.may_observe(SimpleNamespace(attributes=attrs)):  # type: ignore[arg-type]
            if error:
                status = self._Status(self._error, span.status.message or None)
            else:
                status = self._statuses.get(span.status.code, self._statuses[0])
            readable = self._ReadableSpan(
                name=span.name,
                context=self._SpanContext(trace_id, span_id, is_remote=False),
                parent=self._SpanContext(trace_id, parent_id, is_remote=False) if parent_id else None,
                resource=resource,
                attributes=attrs,
                events=[self._Event(e.name, attributes(e.attributes), e.time_unix_nano) for e in span.events],
                kind=self._kinds.get(span.kind, self._internal),
                status=status,
                start_time=span.start_time_unix_nano,
                end_time=span.end_time_unix_nano,
                instrumentation_scope=scope,
            )
            facts.observation = self._dialects.observe(readable)
            if self._evaluation_metrics is not None and facts.observation is not None and span.events:
                found = evaluations_in([readable], self._evaluation_metrics)
                if found:
                    facts.observation.extra[EVALUATIONS_KEY] = found
        if self._hook is not None:
            facts = self._hook(facts, attrs)
        return facts


def load_proto() -> tuple[Any, Any, Any]:
    """protobuf's ``json_format``, ``TracesData`` and ``ExportTraceServiceRequest``.

    Raises:
        ImportError: opentelemetry-proto is not installed (message: :data:`INSTALL_HINT`).
    """
    try:
        from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        from opentelemetry.proto.trace.v1.trace_pb2 import TracesData
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ImportError(INSTALL_HINT) from exc
    return json_format, TracesData, ExportTraceServiceRequest
