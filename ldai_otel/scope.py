"""``ai_run``: bind a block of code to an evaluated AI Config.

The scope only binds: it starts the run's span, writes the run's identity on
it, and puts the run in the OTel context. Emission is the processor's job (:class:`~ldai_otel.LDAISpanProcessor`);
with no processor installed nothing is sent. The run's AI Config facts are read in
``model.config_facts`` (re-exported here: :func:`run_info_from_config`, :func:`resumption_token_for`).
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Mapping
from contextvars import Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from ldai_otel.baggage import ResumedRun, active_codec, with_run_baggage
from ldai_otel.evaluations.judges import run_evaluation_for
from ldai_otel.model import attributes as A

# Re-exported (``as``): public here, where feedback and users import them from.
from ldai_otel.model.config_facts import resumption_token_for as resumption_token_for
from ldai_otel.model.config_facts import run_info_from_config as run_info_from_config
from ldai_otel.model.graph_spec import graph_run_info, is_agent_graph
from ldai_otel.model.run import ORIGIN, Binding, RunInfo, identity_attributes, run_id_for_trace

_logger = logging.getLogger(__name__)

SCOPE_CONTEXT_KEY = otel_context.create_key("ldai-otel.run-scope")
"""OTel context key under which ``ai_run`` puts its :class:`RunScope`."""

_TRACER_NAME = "ldai_otel"


_tracers: weakref.WeakKeyDictionary[Any, trace.Tracer] = weakref.WeakKeyDictionary()


def _tracer_for(tracer_provider: trace.TracerProvider | None) -> trace.Tracer:
    """ai_run's tracer on ``tracer_provider`` (the global one when None), made once.

    ``get_tracer`` builds a new tracer and instrumentation scope on every call,
    which costs more than the rest of a span start; one per provider is enough.
    """
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    try:
        tracer = _tracers.get(provider)
    except TypeError:  # a provider that cannot be weakly referenced: no cache
        return trace.get_tracer(_TRACER_NAME, tracer_provider=provider)
    if tracer is None:
        tracer = trace.get_tracer(_TRACER_NAME, tracer_provider=provider)
        try:
            _tracers[provider] = tracer
        except TypeError:
            pass
    return tracer


class RunScope:
    """What ``ai_run`` tells the processor through the OTel context.

    ``trace_id`` is None while the scope's own span is starting: that is how
    the processor tells the run's local root from its descendants. The
    processor leaves the run's :class:`~ldai_otel.model.run.Binding` in
    ``binding`` when it sees that span start, so neither side computes the
    run's identity twice.
    """

    __slots__ = ("info", "trace_id", "binding")

    def __init__(self, info: RunInfo):
        self.info = info
        self.trace_id: int | None = None
        self.binding: Binding | None = None


def _add_context_attributes(attributes: dict[str, Any], context: Any) -> None:
    """Writes the LaunchDarkly context's kind and key (string arrays for a multi-context)."""
    try:
        if getattr(context, "multiple", False):
            parts = [context.get_individual_context(i) for i in range(context.individual_context_count)]
            attributes[A.LD_AI_CONFIG_CONTEXT_KIND] = [str(c.kind) for c in parts]
            attributes[A.LD_AI_CONFIG_CONTEXT_KEY] = [str(c.key) for c in parts]
        elif context is not None:
            attributes[A.LD_AI_CONFIG_CONTEXT_KIND] = str(context.kind)
            attributes[A.LD_AI_CONFIG_CONTEXT_KEY] = str(context.key)
    except Exception:  # not an ldclient.Context: nothing recorded
        _logger.debug("ldai-otel: context kind and key not recorded", exc_info=True)


class AIRun:
    """One run of an AI Config: a context manager, sync or async.

    Use :func:`ai_run` to make one. Inside the block, ``run_id`` and
    ``resumption_token`` identify the run; ``span`` is the run's span.
    """

    def __init__(
        self,
        config: Any,
        context: Any,
        *,
        new_trace: bool = False,
        tracer_provider: trace.TracerProvider | None = None,
        name: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        record_context: bool = False,
        agent_names: Mapping[str, str] | None = None,
    ):
        self._config = config
        self._agent_names = agent_names
        self._record_context = record_context
        self._context = context
        self._new_trace = new_trace
        self._tracer_provider = tracer_provider
        self._name = name
        self._attributes = dict(attributes) if attributes else None
        self._info: RunInfo | None = None
        self._span: Span | None = None
        self._token: Token[otel_context.Context] | None = None
        self.run_id: str = ""
        """The run's runId: the trace id written as UUID text."""
        self._resumption_token = ""

    @property
    def resumption_token(self) -> str:
        """LaunchDarkly resumption token for this run (deferred feedback).

        Encoded when first read (or when the run goes into baggage): most
        runs never need it.
        """
        if not self._resumption_token and self.run_id and self._info is not None:
            self._resumption_token = resumption_token_for(self.run_id, self._info)
        return self._resumption_token

    def _token_text(self) -> str:
        return self.resumption_token

    def _resumed_run(self) -> ResumedRun:
        info = self._info
        assert info is not None  # set before the run goes into baggage
        return ResumedRun(self.run_id, info.config_key, info.variation_key, info.version, info.graph_key, signed=True)

    @property
    def span(self) -> Span | None:
        """The run's span, while the scope is open."""
        return self._span

    def set_evaluation_text(self, input_text: str, output_text: str) -> None:
        """Hands the config's judges the pair to evaluate for this run.

        For apps whose spans carry no message content (content capture is off
        by default in most instrumentations): call it inside the block, with
        what the model was asked and what it answered. It wins over content
        read from spans. The text is kept only until the evaluation and never
        logged. Does nothing when the config has no judges.

        Args:
            input_text: The input the model was given (the user's prompt, or
                the conversation as ``role: text`` lines).
            output_text: The model's answer.
        """
        info = self._info
        evaluation = info.evaluation if info is not None else None
        if evaluation is None:
            return
        if not isinstance(input_text, str) or not isinstance(output_text, str) or not input_text or not output_text:
            _logger.warning("ldai-otel: set_evaluation_text takes two non-empty strings; ignored")
            return
        evaluation.set_pair(input_text, output_text)

    @property
    def config_key(self) -> str:
        """The AI Config key this run belongs to."""
        return self._info.config_key if self._info else str(getattr(self._config, "key", ""))

    def __enter__(self) -> AIRun:
        if is_agent_graph(self._config):
            info = graph_run_info(self._config, self._context, self._agent_names, run_info_from_config)
        else:
            info = run_info_from_config(self._config, self._context)
            info.evaluation = run_evaluation_for(self._config)  # None unless the config has judges
        self._info = info
        scope = RunScope(info)
        current = otel_context.get_current()
        ctx = otel_context.set_value(SCOPE_CONTEXT_KEY, scope, current)
        parent = trace.get_current_span(current).get_span_context()
        links = None
        trace_id = 0
        if self._new_trace:
            links = [Link(parent)] if parent.is_valid else None
            # An invalid current span makes the tracer start a new trace.
            ctx = trace.set_span_in_context(trace.INVALID_SPAN, ctx)
        elif parent.is_valid:
            trace_id = parent.trace_id
        # The run's identity goes on its own span, processor or not, so that
        # readers of exported spans (`ldai-otel inspect`, `ldai-otel serve`)
        # see it; with the trace known before the span starts it is passed to
        # start_span (cheaper than set_attributes after, and seen by samplers).
        codec = active_codec()  # set by a live processor; without one nothing needs a binding
        if trace_id:
            run_id = run_id_for_trace(trace_id)
            if codec is not None:
                scope.binding = Binding.create(run_id, info, ORIGIN)  # the processor uses it for the run
            attributes = identity_attributes(run_id, info)
        else:
            attributes = identity_attributes("", info)
            del attributes[A.LD_AI_CONFIG_RUN_ID]  # known once the span has started
        if info.model_name:
            attributes[A.LD_AI_CONFIG_MODEL_NAME] = info.model_name
        if info.provider_name:
            attributes[A.LD_AI_CONFIG_PROVIDER_NAME] = info.provider_name
        if info.graph is not None:
            attributes[A.LD_AI_CONFIG_GRAPH] = info.graph.to_json()
        if info.evaluation is not None:
            attributes[A.LD_AI_CONFIG_JUDGES] = info.evaluation.judge_keys
        if self._record_context:
            _add_context_attributes(attributes, self._context)
        if self._attributes:
            attributes.update(self._attributes)
        span = _tracer_for(self._tracer_provider).start_span(
            self._name or "ai_run " + info.config_key,
            context=ctx,
            kind=SpanKind.INTERNAL,
            links=links,
            attributes=attributes,
        )
        if not trace_id:
            trace_id = span.get_span_context().trace_id
            scope.trace_id = trace_id
            binding = scope.binding  # set by the processor when it saw the span start
            if binding is not None:
                self.run_id = binding.run_id
            else:
                # Without an SDK the span is invalid (trace id 0): still give the
                # run a unique id so resumption tokens never collide.
                self.run_id = run_id_for_trace(trace_id) if trace_id else str(uuid.uuid4())
            if trace_id:
                span.set_attribute(A.LD_AI_CONFIG_RUN_ID, self.run_id)
        else:
            scope.trace_id = trace_id
            self.run_id = run_id
        # Downstream services resume the run from baggage (signed; see baggage.py).
        # A graph run is not resumed downstream: a plain resumption token of
        # the graph key would make other services emit AI Config events for it.
        if codec is not None and codec.propagate and info.graph is None:
            ctx = with_run_baggage(ctx, self.run_id, self._token_text, self._context, self._resumed_run)
        self._span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, ctx))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, token = self._span, self._token
        self._span, self._token = None, None
        if span is None:
            return
        try:
            if exc is not None and isinstance(exc, Exception):
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
        finally:
            if token is not None:
                otel_context.detach(token)

    async def __aenter__(self) -> AIRun:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def ai_run(
    config: Any,
    context: Any,
    *,
    new_trace: bool = False,
    tracer_provider: trace.TracerProvider | None = None,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    record_context: bool = False,
    agent_names: Mapping[str, str] | None = None,
) -> AIRun:
    """Binds a block of code to one run of an evaluated AI Config.

    Starts the run's span (on the global tracer provider unless told
    otherwise) and puts the run in the OTel context, so every span started
    inside, in this thread, in asyncio tasks and threads that carry the
    context, belongs to the run. An exception leaving the block marks the run
    as failed and propagates unchanged.

    Args:
        config: Any ``ldai`` config with ``create_tracker()`` (completion,
            agent or judge config), or an agent graph
            (``LDAIClient.agent_graph(...)``): then the block is one run of
            the graph, emitted through the graph's own tracker, with one node
            run per agent node that ran (docs/graphs.md).
        context: The ``ldclient.Context`` the config was evaluated for; the
            run's events are attributed to it.
        new_trace: Start a new trace, linked to the current span. One run is
            one (trace, config key): loops and batch jobs whose iterations are
            independent executions want this.
        tracer_provider: Start the span on this provider instead of the global one.
        name: The span's name; ``"ai_run <config key>"`` by default.
        attributes: Extra attributes for the run's span.
        record_context: Security: context keys are often personal data, and
            they then reach your tracing backend and everything that reads it
            (off by default). Writes the LaunchDarkly context's kind and key on
            the run's span (``ld.ai_config.context.kind`` / ``.key``), for
            ``ldai-otel serve``, which reads exported spans only.
        agent_names: For an agent graph: framework agent names (as the
            agent spans write them) -> node keys, for agents not named after
            their node's AI Config key.

    Returns:
        An :class:`AIRun`, usable with ``with`` and ``async with``.
    """
    return AIRun(
        config,
        context,
        new_trace=new_trace,
        tracer_provider=tracer_provider,
        name=name,
        attributes=attributes,
        record_context=record_context,
        agent_names=agent_names,
    )
