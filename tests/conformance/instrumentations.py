"""Turns on real GenAI instrumentations, the way their documentation says to.

Imports happen here, at instrument time: a missing package raises
``ImportError`` and the test session fails; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider


def instrument(names: Sequence[str], processors: Sequence[SpanProcessor]) -> TracerProvider:
    """Builds the global tracer provider with ``processors`` and instruments ``names``.

    Args:
        names: Instrumentations to turn on, in order.
        processors: Span processors every span goes through (ours, an exporter).

    Returns:
        The tracer provider the spans are made by (logfire's, when it owns one).
    """
    if "logfire" in names:
        provider = _logfire(processors)
    else:
        provider = TracerProvider()
        for processor in processors:
            provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
    for name in names:
        if name == "openai-v2":
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

            OpenAIInstrumentor().instrument(tracer_provider=provider)
        elif name == "openinference":
            from openinference.instrumentation.openai import OpenAIInstrumentor

            OpenAIInstrumentor().instrument(tracer_provider=provider)
        elif name == "traceloop":
            from opentelemetry.instrumentation.openai import OpenAIInstrumentor

            OpenAIInstrumentor().instrument(tracer_provider=provider)
        elif name == "pydantic-ai":
            from pydantic_ai import Agent

            Agent.instrument_all()  # spans on the global tracer provider
        elif name == "logfire":
            import logfire

            logfire.instrument_openai()
        elif name == "openinference-anthropic":
            from openinference.instrumentation.anthropic import AnthropicInstrumentor

            AnthropicInstrumentor().instrument(tracer_provider=provider)
        elif name == "traceloop-anthropic":
            from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

            AnthropicInstrumentor().instrument(tracer_provider=provider)
        elif name == "botocore":
            from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

            BotocoreInstrumentor().instrument(tracer_provider=provider)
        elif name == "traceloop-bedrock":
            from opentelemetry.instrumentation.bedrock import BedrockInstrumentor

            BedrockInstrumentor().instrument(tracer_provider=provider)
        elif name == "openinference-bedrock":
            from openinference.instrumentation.bedrock import BedrockInstrumentor

            BedrockInstrumentor().instrument(tracer_provider=provider)
        elif name == "openinference-langchain":
            from openinference.instrumentation.langchain import LangChainInstrumentor

            LangChainInstrumentor().instrument(tracer_provider=provider)
        elif name == "traceloop-langchain":
            from opentelemetry.instrumentation.langchain import LangchainInstrumentor

            LangchainInstrumentor().instrument(tracer_provider=provider)
        elif name == "openinference-agents":
            from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor

            # exclusive_processor (its default): replaces the SDK's exporter to OpenAI's servers.
            OpenAIAgentsInstrumentor().instrument(tracer_provider=provider, exclusive_processor=True)
        elif name == "traceloop-agents":
            from opentelemetry.instrumentation.openai_agents import OpenAIAgentsInstrumentor

            # Replaces the SDK's exporter to OpenAI's servers rather than running beside it.
            OpenAIAgentsInstrumentor(replace_existing_processors=True).instrument(tracer_provider=provider)
        elif name == "google-genai":
            from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

            GoogleGenAiSdkInstrumentor().instrument(tracer_provider=provider)
        elif name == "openinference-google-genai":
            from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

            GoogleGenAIInstrumentor().instrument(tracer_provider=provider)
        elif name == "strands":
            from strands.telemetry import StrandsTelemetry

            # Strands' own spans, on the provider the app already has (its docs' way).
            StrandsTelemetry(tracer_provider=provider)
        else:
            raise ValueError("unknown instrumentation " + name)
    return provider


def _logfire(processors: Sequence[SpanProcessor]) -> TracerProvider:
    """logfire makes and installs its own tracer provider; ours ride along."""
    import logfire

    logfire.configure(
        send_to_logfire=False,
        console=False,
        metrics=False,
        inspect_arguments=False,
        additional_span_processors=list(processors),
    )
    return trace.get_tracer_provider()  # type: ignore[return-value]


def uninstrument(names: Sequence[str]) -> None:
    """Undoes :func:`instrument` where the instrumentation supports it."""
    for name in names:
        if name == "openai-v2":
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

            OpenAIInstrumentor().uninstrument()
        elif name == "openinference":
            from openinference.instrumentation.openai import OpenAIInstrumentor

            OpenAIInstrumentor().uninstrument()
        elif name == "traceloop":
            from opentelemetry.instrumentation.openai import OpenAIInstrumentor

            OpenAIInstrumentor().uninstrument()
        elif name == "openinference-anthropic":
            from openinference.instrumentation.anthropic import AnthropicInstrumentor

            AnthropicInstrumentor().uninstrument()
        elif name == "traceloop-anthropic":
            from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

            AnthropicInstrumentor().uninstrument()
        elif name == "botocore":
            from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

            BotocoreInstrumentor().uninstrument()
        elif name == "traceloop-bedrock":
            from opentelemetry.instrumentation.bedrock import BedrockInstrumentor

            BedrockInstrumentor().uninstrument()
        elif name == "openinference-bedrock":
            from openinference.instrumentation.bedrock import BedrockInstrumentor

            BedrockInstrumentor().uninstrument()
        elif name == "openinference-langchain":
            from openinference.instrumentation.langchain import LangChainInstrumentor

            LangChainInstrumentor().uninstrument()
        elif name == "traceloop-langchain":
            from opentelemetry.instrumentation.langchain import LangchainInstrumentor

            LangchainInstrumentor().uninstrument()
        elif name in ("openinference-agents", "traceloop-agents"):
            from agents import set_trace_processors

            set_trace_processors([])  # the session is over: no processor of ours is left behind
        elif name == "google-genai":
            from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

            GoogleGenAiSdkInstrumentor().uninstrument()
        elif name == "openinference-google-genai":
            from openinference.instrumentation.google_genai import GoogleGenAIInstrumentor

            GoogleGenAIInstrumentor().uninstrument()
