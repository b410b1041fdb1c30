"""Which instrumentations the conformance suite drives, and in which environment.

Standard library only: the runner (``run.py``, started by ``scripts/test``)
reads it with the system Python to build the environments, and the suite's
``conftest.py`` reads it to pick the combination a pytest process runs.

Each *environment* is a virtual environment under ``.venv-conformance/<name>``
with the pins below. Packages whose pins conflict (two versions of
``opentelemetry-util-genai``, two of ``opentelemetry-instrumentation-openai``)
live in different environments. Each *combination* is one pytest process in
one environment, with exactly the named instrumentations turned on
(installed-but-unused instrumentations patch nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMBO_ENV = "LDAI_OTEL_CONFORMANCE"
"""Names the combination a pytest process runs; unset, the suite collects nothing."""

DUMP_ENV = "LDAI_OTEL_CONFORMANCE_DUMP"
"""When set to a folder, every span is also written there as OTLP JSON (one file
per combination), for ``ldai-otel inspect`` when studying a new version."""

COMMON_PINS = (
    "openai==3.54.0",
    "httpx==0.28.1",
    "opentelemetry-api==1.45.2",
    "opentelemetry-sdk==1.45.2",
)

ENVIRONMENTS: dict[str, tuple[str, ...]] = {
    # Everything whose pins agree: one install, many combinations.
    "current": COMMON_PINS
    + (
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==1.1b0",
        "openinference-instrumentation-openai==0.1.66",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-semantic-conventions-ai==0.5.1",
        "pydantic-ai-slim[openai]==2.68.0",
        "logfire==5.2.0",
    ),
    # Older releases that write the legacy dialects.
    "legacy": COMMON_PINS
    + (
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==0.4b0",
        "opentelemetry-instrumentation-openai==0.52.6",
        "opentelemetry-semantic-conventions-ai==0.4.16",
    ),
    # Google Gen AI: contrib google-genai 1.3b0 instruments google-genai < 3 only.
    "gemini": COMMON_PINS
    + (
        "google-genai==2.34.0",
        "opentelemetry-instrumentation-google-genai==1.3b0",
        "opentelemetry-util-genai==1.3b0",
        "openinference-instrumentation-google-genai==1.4.14",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
    ),
    # Strands Agents: its openai extra needs openai < 3, and its
    # opentelemetry-instrumentation-threading 0.66b1 needs the 1.45.1 SDK.
    "strands": (
        "strands-agents[openai,gemini]==1.62.0",
        "openai==2.54.0",
        "httpx==0.28.1",
        "opentelemetry-api==1.45.1",
        "opentelemetry-sdk==1.45.1",
        "opentelemetry-instrumentation==0.66b1",
        "opentelemetry-instrumentation-threading==0.66b1",
        "google-genai==2.34.0",
        "opentelemetry-instrumentation-google-genai==1.3b0",
        "opentelemetry-util-genai==1.3b0",
    ),
}


@dataclass(frozen=True)
class Combo:
    """One pytest process: an environment, the instrumentations it turns on."""

    environment: str
    module: str
    """The test module (in this folder) that holds its expectations."""
    instrumentations: tuple[str, ...]
    """Turned on in this order: ``openai-v2``, ``openinference``, ``traceloop``,
    ``pydantic-ai``, ``logfire``."""
    packages: tuple[str, ...]
    """Distributions whose installed versions must equal the environment's pins."""
    env: dict = field(default_factory=dict)
    """Environment variables set before instrumenting."""


COMBOS: dict[str, Combo] = {
    "openai-v2": Combo(
        "current",
        "test_openai_v2.py",
        ("openai-v2",),
        ("openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
    ),
    "openai-v2-content": Combo(
        "current",
        "test_openai_v2_content.py",
        ("openai-v2",),
        ("openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
        env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only"},
    ),
    "openai-v2-legacy": Combo(
        "legacy",
        "test_openai_v2_legacy.py",
        ("openai-v2",),
        ("openai", "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"),
    ),
    "openinference": Combo(
        "current",
        "test_openinference.py",
        ("openinference",),
        ("openai", "openinference-instrumentation-openai"),
    ),
    "traceloop": Combo(
        "current",
        "test_traceloop.py",
        ("traceloop",),
        ("openai", "opentelemetry-instrumentation-openai"),
    ),
    "traceloop-legacy": Combo(
        "legacy",
        "test_traceloop_legacy.py",
        ("traceloop",),
        ("openai", "opentelemetry-instrumentation-openai"),
    ),
    "openai-v2+openinference": Combo(
        "current",
        "test_openai_v2_and_openinference.py",
        ("openai-v2", "openinference"),
        ("openai", "opentelemetry-instrumentation-openai-v2", "openinference-instrumentation-openai"),
    ),
    "pydantic-ai": Combo(
        "current",
        "test_pydantic_ai.py",
        ("pydantic-ai",),
        ("openai", "pydantic-ai-slim"),
    ),
    "pydantic-ai+openai-v2": Combo(
        "current",
        "test_pydantic_ai_and_openai_v2.py",
        ("pydantic-ai", "openai-v2"),
        ("openai", "pydantic-ai-slim", "opentelemetry-instrumentation-openai-v2"),
    ),
    "logfire": Combo(
        "current",
        "test_logfire.py",
        ("logfire",),
        ("openai", "logfire"),
    ),
    "google-genai": Combo(
        "gemini",
        "test_google_genai.py",
        ("google-genai",),
        ("google-genai", "opentelemetry-instrumentation-google-genai", "opentelemetry-util-genai"),
    ),
    "openinference-google-genai": Combo(
        "gemini",
        "test_openinference_google_genai.py",
        ("openinference-google-genai",),
        ("google-genai", "openinference-instrumentation-google-genai"),
    ),
    "google-genai+openinference-google-genai": Combo(
        "gemini",
        "test_google_genai_and_openinference.py",
        ("google-genai", "openinference-google-genai"),
        ("google-genai", "opentelemetry-instrumentation-google-genai", "openinference-instrumentation-google-genai"),
    ),
    "strands": Combo(
        "strands",
        "test_strands.py",
        ("strands",),
        ("strands-agents", "openai", "opentelemetry-sdk"),
    ),
    "strands-gemini": Combo(
        "strands",
        "test_strands_gemini.py",
        ("strands",),
        ("strands-agents", "google-genai"),
    ),
    "strands-gemini+google-genai": Combo(
        "strands",
        "test_strands_gemini_and_google_genai.py",
        ("strands", "google-genai"),
        ("strands-agents", "google-genai", "opentelemetry-instrumentation-google-genai"),
    ),
}


def pinned_version(environment: str, distribution: str) -> str:
    """The version ``distribution`` is pinned to in ``environment``."""
    for pin in ENVIRONMENTS[environment]:
        name, _, version = pin.partition("==")
        if name.split("[", 1)[0].lower() == distribution.lower():
            return version
    raise KeyError(distribution + " is not pinned in " + environment)
