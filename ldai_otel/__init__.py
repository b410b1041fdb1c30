"""Turn OpenTelemetry GenAI spans into LaunchDarkly AI Config metrics.

Three sources feed one rule book: :class:`LDAISpanProcessor` (live spans in the
app's process), ``ldai-otel inspect`` (OTLP JSON files) and ``ldai-otel serve``
(OTLP over the network). docs/design.md describes the layout.
"""

from ldai_otel._version import __version__
from ldai_otel.feedback import RunRef, current_run, track_feedback
from ldai_otel.model.observation import Extractor, Observation
from ldai_otel.processor import LDAISpanProcessor
from ldai_otel.rules.book import Summary
from ldai_otel.sampler import RunRecordingSampler
from ldai_otel.scope import AIRun, ai_run

__all__ = [
    "AIRun",
    "Extractor",
    "LDAISpanProcessor",
    "Observation",
    "RunRecordingSampler",
    "RunRef",
    "Summary",
    "__version__",
    "ai_run",
    "current_run",
    "track_feedback",
]
