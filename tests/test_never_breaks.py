"""The host app never breaks (docs/design.md, "Never breaking the host app"): nothing escapes a hook."""

from __future__ import annotations

import logging
import math

import pytest
from genai import chat, values
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import flush_events


class ExplodingClient:
    """Stands in for an LDClient whose every call raises (a unit-level fault)."""

    def __init__(self) -> None:
        self.calls = 0

    def get_sdk_key(self):
        return "sdk-exploding"

    def track(self, *args, **kwargs):
        self.calls += 1
        raise RuntimeError("ld client exploded")

    def flush(self):
        raise RuntimeError("ld client exploded")


def test_exceptions_from_the_launchdarkly_client_never_reach_the_app(chat_config, user, caplog):
    client = ExplodingClient()
    provider = TracerProvider()
    processor = LDAISpanProcessor(client)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")

    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 1, 1)
        # The client's flush raised: logged, reported as a failed flush, not raised.
        assert processor.force_flush() is False
        provider.shutdown()

    # Each metric is sent on its own: duration, tokens (its first track raised), outcome.
    assert client.calls == 3
    assert "sending duration of a run failed; its other metrics are sent" in caplog.text
    assert "force_flush failed" in caplog.text
    assert "shutdown failed" in caplog.text


@pytest.mark.parametrize("bad", ["12", True, -5, math.nan, math.inf, [1, 2], 1e400])
def test_wrong_typed_token_attributes_are_ignored_with_a_warning(
    provider, tracer, chat_config, user, collect, bad, caplog
):
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 7, None, extra={"gen_ai.usage.output_tokens": bad, "gen_ai.response.time_to_first_chunk": bad})

    got = values(collect())
    assert got["$ld:ai:tokens:input"] == 7
    assert got["$ld:ai:tokens:total"] == 7
    assert "$ld:ai:tokens:output" not in got
    assert "$ld:ai:tokens:ttf" not in got
    assert got["$ld:ai:generation:success"] == 1
    assert "ignoring attribute gen_ai.usage.output_tokens" in caplog.text


def test_bad_input_warnings_are_rate_limited(provider, tracer, chat_config, user, collect, caplog):
    with caplog.at_level(logging.WARNING, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            for _ in range(50):
                chat(tracer, 1, 1, extra={"gen_ai.usage.input_tokens": "lots"})
    collect()
    lines = [r for r in caplog.records if "ignoring attribute gen_ai.usage.input_tokens" in r.getMessage()]
    assert len(lines) <= 1


def test_an_extractor_that_raises_is_logged_and_skipped(make_provider, chat_config, user, ld_client, sink, caplog):
    def broken(span, attrs):
        raise ValueError("in-house extractor bug")

    provider, processor = make_provider(extractors=[broken])
    tracer = provider.get_tracer("tests")
    with caplog.at_level(logging.ERROR, logger="ldai_otel"):
        with ai_run(chat_config, user, tracer_provider=provider):
            chat(tracer, 2, 2)
    got = values(flush_events(ld_client, sink, processor))
    assert got["$ld:ai:tokens:total"] == 4  # the built-in dialect still read the span
    assert "extractor" in caplog.text and "in-house extractor bug" in caplog.text


def test_user_extractor_for_an_in_house_dialect(make_provider, chat_config, user, ld_client, sink):
    from ldai_otel import Observation

    def in_house(span, attrs):
        if attrs.get("acme.llm.call") is not True:
            return None
        return Observation(kind="model", input_tokens=attrs.get("acme.in"), output_tokens=attrs.get("acme.out"))

    provider, processor = make_provider(extractors=[in_house])
    tracer = provider.get_tracer("tests")
    with ai_run(chat_config, user, tracer_provider=provider):
        tracer.start_span("acme", attributes={"acme.llm.call": True, "acme.in": 11, "acme.out": 4}).end()
    got = values(flush_events(ld_client, sink, processor))
    assert got["$ld:ai:tokens:total"] == 15


def test_malformed_spans_never_break_a_hook(processor, chat_config, user, provider, collect):
    class NotASpan:
        parent = None
        context = None
        attributes = None

    # Hooks called directly with junk: the SDK would not catch what they raise.
    processor.on_start(NotASpan())  # type: ignore[arg-type]
    processor.on_start(None)  # type: ignore[arg-type]
    processor.on_end(NotASpan())  # type: ignore[arg-type]
    processor.on_end(None)  # type: ignore[arg-type]
    with ai_run(chat_config, user, tracer_provider=provider):
        pass
    assert values(collect())["$ld:ai:generation:success"] == 1


def test_invalid_options_are_rejected_at_construction(ld_client):
    with pytest.raises(ValueError):
        LDAISpanProcessor(ld_client, max_open_runs=0)
    with pytest.raises(ValueError):
        LDAISpanProcessor(ld_client, max_segment_age_s=0)
