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
        # Online evaluations: ldai runs the judges (and ManagedModel its model) through it.
        "launchdarkly-server-sdk-ai-openai==0.7.0",
    ),
    # Older releases that write the legacy dialects.
    "legacy": COMMON_PINS
    + (
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==0.4b0",
        "opentelemetry-instrumentation-openai==0.52.6",
        "opentelemetry-semantic-conventions-ai==0.4.16",
        "launchdarkly-server-sdk-ai-openai==0.7.0",
    ),
    # The anthropic SDK (its own GenAI spans), OpenInference and Traceloop anthropic.
    "anthropic": COMMON_PINS
    + (
        "anthropic==2.15.0",
        "openinference-instrumentation-anthropic==3.1.0",
        "opentelemetry-instrumentation-anthropic==0.62.4",
        "httpx2==2.16.2",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
        "opentelemetry-semantic-conventions-ai==0.5.1",
    ),
    # Amazon Bedrock through boto3: contrib botocore, Traceloop bedrock, OpenInference bedrock.
    "bedrock": COMMON_PINS
    + (
        "boto3==1.44.8",
        "botocore==1.44.8",
        "opentelemetry-instrumentation-botocore==0.66b2",
        "opentelemetry-instrumentation==0.66b2",
        "opentelemetry-semantic-conventions==0.66b2",
        "opentelemetry-instrumentation-bedrock==0.62.4",
        "opentelemetry-semantic-conventions-ai==0.5.1",
        "openinference-instrumentation-bedrock==0.1.61",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
    ),
    # LangChain ChatOpenAI and a LangGraph ReAct agent; OpenAI-client instrumentations as in "current".
    "langchain": COMMON_PINS
    + (
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==1.1b0",
        "openinference-instrumentation-openai==0.1.66",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-semantic-conventions-ai==0.5.1",
        "openinference-instrumentation-langchain==0.1.80",
        "opentelemetry-instrumentation-langchain==0.62.4",
        "langchain-openai==1.7.4",
        # 1.8.4 needs langchain-protocol>=0.0.22, which is for Python >= 3.14 only.
        "langchain-core==1.8.3",
        "langchain-protocol==0.0.20",
        "langgraph==1.2.24",
        "langgraph-prebuilt==1.1.3",
        "langgraph-checkpoint==4.3.2",
    ),
    # The OpenAI Agents SDK with the agents instrumentations of OpenInference and Traceloop.
    "agents": COMMON_PINS
    + (
        "openai-agents==0.24.0",
        "openinference-instrumentation-openai-agents==2.6.0",
        "openinference-instrumentation-openai==0.1.66",
        "openinference-instrumentation==0.1.72",
        "openinference-semantic-conventions==0.1.42",
        "opentelemetry-instrumentation-openai-agents==0.62.4",
        "opentelemetry-instrumentation-openai==0.62.4",
        "opentelemetry-semantic-conventions-ai==0.5.1",
        "opentelemetry-instrumentation-openai-v2==2.4b0",
        "opentelemetry-util-genai==1.1b0",
    ),
    # LaunchDarkly's observability plugin: it pins its own OpenTelemetry (1.34.1) and
    # Traceloop instrumentations (0.40.14), and installs the global tracer provider.
    "observability": (
        "openai==3.54.0",
        "httpx==0.28.1",
        "launchdarkly-observability==1.3.4",
        "opentelemetry-instrumentation-openai==0.40.14",  # the plugin's own pin, recorded
        "launchdarkly-server-sdk-ai-openai==0.7.0",
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
    # Online evaluations: judged runs, the judge's text read from each instrumentation's spans.
    "openinference-judges": Combo(
        "current",
        "test_openinference_judges.py",
        ("openinference",),
        ("openai", "openinference-instrumentation-openai", "launchdarkly-server-sdk-ai-openai"),
    ),
    "traceloop-judges": Combo(
        "current",
        "test_traceloop_judges.py",
        ("traceloop",),
        ("openai", "opentelemetry-instrumentation-openai", "launchdarkly-server-sdk-ai-openai"),
    ),
    "traceloop-legacy-judges": Combo(
        "legacy",
        "test_traceloop_judges.py",
        ("traceloop",),
        ("openai", "opentelemetry-instrumentation-openai", "launchdarkly-server-sdk-ai-openai"),
    ),
    "managed-model": Combo(
        "current",
        "test_managed_model.py",
        ("openinference",),
        ("openai", "openinference-instrumentation-openai", "launchdarkly-server-sdk-ai-openai"),
    ),
    "launchdarkly-observability": Combo(
        "observability",
        "test_launchdarkly_observability.py",
        (),  # the plugin turns the instrumentations on itself
        (
            "openai",
            "launchdarkly-observability",
            "opentelemetry-instrumentation-openai",
            "launchdarkly-server-sdk-ai-openai",
        ),
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
    # Anthropic. The anthropic SDK writes its own GenAI spans unless ANTHROPIC_OPEN_TELEMETRY=false.
    "anthropic-sdk": Combo(
        "anthropic",
        "test_anthropic_sdk.py",
        (),
        ("anthropic",),
    ),
    "openinference-anthropic": Combo(
        "anthropic",
        "test_openinference_anthropic.py",
        ("openinference-anthropic",),
        ("anthropic", "openinference-instrumentation-anthropic"),
        env={"ANTHROPIC_OPEN_TELEMETRY": "false"},
    ),
    "openinference-anthropic+sdk": Combo(
        "anthropic",
        "test_openinference_anthropic_and_sdk.py",
        ("openinference-anthropic",),
        ("anthropic", "openinference-instrumentation-anthropic"),
    ),
    "traceloop-anthropic": Combo(
        "anthropic",
        "test_traceloop_anthropic.py",
        ("traceloop-anthropic",),
        ("anthropic", "opentelemetry-instrumentation-anthropic"),
        env={"ANTHROPIC_OPEN_TELEMETRY": "false"},
    ),
    "traceloop-anthropic+sdk": Combo(
        "anthropic",
        "test_traceloop_anthropic_and_sdk.py",
        ("traceloop-anthropic",),
        ("anthropic", "opentelemetry-instrumentation-anthropic"),
    ),
    "openinference-anthropic+traceloop-anthropic": Combo(
        "anthropic",
        "test_openinference_and_traceloop_anthropic.py",
        ("openinference-anthropic", "traceloop-anthropic"),
        ("anthropic", "openinference-instrumentation-anthropic", "opentelemetry-instrumentation-anthropic"),
        env={"ANTHROPIC_OPEN_TELEMETRY": "false"},
    ),
    "botocore": Combo(
        "bedrock",
        "test_botocore.py",
        ("botocore",),
        ("boto3", "botocore", "opentelemetry-instrumentation-botocore"),
    ),
    "botocore-content": Combo(
        "bedrock",
        "test_botocore_content.py",
        ("botocore",),
        ("boto3", "botocore", "opentelemetry-instrumentation-botocore"),
        env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    ),
    "traceloop-bedrock": Combo(
        "bedrock",
        "test_traceloop_bedrock.py",
        ("traceloop-bedrock",),
        ("boto3", "botocore", "opentelemetry-instrumentation-bedrock"),
    ),
    "openinference-bedrock": Combo(
        "bedrock",
        "test_openinference_bedrock.py",
        ("openinference-bedrock",),
        ("boto3", "botocore", "openinference-instrumentation-bedrock"),
    ),
    # opentelemetry-instrument turns contrib botocore on by itself: with a GenAI one, each call is two spans.
    "botocore+traceloop-bedrock": Combo(
        "bedrock",
        "test_botocore_and_traceloop_bedrock.py",
        ("botocore", "traceloop-bedrock"),
        ("boto3", "botocore", "opentelemetry-instrumentation-botocore", "opentelemetry-instrumentation-bedrock"),
    ),
    "botocore+openinference-bedrock": Combo(
        "bedrock",
        "test_botocore_and_openinference_bedrock.py",
        ("botocore", "openinference-bedrock"),
        ("boto3", "botocore", "opentelemetry-instrumentation-botocore", "openinference-instrumentation-bedrock"),
    ),
    "langchain-openinference": Combo(
        "langchain",
        "test_langchain_openinference.py",
        ("openinference-langchain",),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "openinference-instrumentation-langchain",
        ),
    ),
    "langchain-openinference+openinference": Combo(
        "langchain",
        "test_langchain_openinference_and_openinference.py",
        ("openinference", "openinference-langchain"),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "openinference-instrumentation-langchain",
            "openinference-instrumentation-openai",
        ),
    ),
    "langchain-openinference+openai-v2": Combo(
        "langchain",
        "test_langchain_openinference_and_openai_v2.py",
        ("openai-v2", "openinference-langchain"),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "openinference-instrumentation-langchain",
            "opentelemetry-instrumentation-openai-v2",
            "opentelemetry-util-genai",
        ),
    ),
    "langchain-traceloop": Combo(
        "langchain",
        "test_langchain_traceloop.py",
        ("traceloop-langchain",),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "opentelemetry-instrumentation-langchain",
        ),
    ),
    "langchain-traceloop+traceloop": Combo(
        "langchain",
        "test_langchain_traceloop_and_traceloop.py",
        ("traceloop", "traceloop-langchain"),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "opentelemetry-instrumentation-langchain",
            "opentelemetry-instrumentation-openai",
        ),
    ),
    "langchain-traceloop+openai-v2": Combo(
        "langchain",
        "test_langchain_traceloop_and_openai_v2.py",
        ("openai-v2", "traceloop-langchain"),
        (
            "openai",
            "langchain-core",
            "langchain-openai",
            "langgraph",
            "langgraph-prebuilt",
            "opentelemetry-instrumentation-langchain",
            "opentelemetry-instrumentation-openai-v2",
            "opentelemetry-util-genai",
        ),
    ),
    "openinference-agents": Combo(
        "agents",
        "test_openinference_agents.py",
        ("openinference-agents",),
        ("openai", "openai-agents", "openinference-instrumentation-openai-agents"),
    ),
    "openinference-agents+openai": Combo(
        "agents",
        "test_openinference_agents_and_openai.py",
        ("openinference-agents", "openinference"),
        (
            "openai",
            "openai-agents",
            "openinference-instrumentation-openai-agents",
            "openinference-instrumentation-openai",
        ),
    ),
    "traceloop-agents": Combo(
        "agents",
        "test_traceloop_agents.py",
        ("traceloop-agents",),
        ("openai", "openai-agents", "opentelemetry-instrumentation-openai-agents"),
    ),
    "traceloop-agents+openai": Combo(
        "agents",
        "test_traceloop_agents_and_openai.py",
        ("traceloop-agents", "traceloop"),
        (
            "openai",
            "openai-agents",
            "opentelemetry-instrumentation-openai-agents",
            "opentelemetry-instrumentation-openai",
        ),
    ),
    "openinference-agents+openai-v2": Combo(
        "agents",
        "test_openinference_agents_and_openai_v2.py",
        ("openinference-agents", "openai-v2"),
        (
            "openai",
            "openai-agents",
            "openinference-instrumentation-openai-agents",
            "opentelemetry-instrumentation-openai-v2",
            "opentelemetry-util-genai",
        ),
    ),
    "traceloop-agents+openai-v2": Combo(
        "agents",
        "test_traceloop_agents_and_openai_v2.py",
        ("traceloop-agents", "openai-v2"),
        (
            "openai",
            "openai-agents",
            "opentelemetry-instrumentation-openai-agents",
            "opentelemetry-instrumentation-openai-v2",
            "opentelemetry-util-genai",
        ),
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
    # Agent graphs (issue 11): ai_run(graph, user) around the frameworks' multi-agent runs.
    "openinference-agents-graph": Combo(
        "agents",
        "test_openinference_agents_graph.py",
        ("openinference-agents",),
        ("openai", "openai-agents", "openinference-instrumentation-openai-agents"),
    ),
    "traceloop-agents-graph": Combo(
        "agents",
        "test_traceloop_agents_graph.py",
        ("traceloop-agents",),
        ("openai", "openai-agents", "opentelemetry-instrumentation-openai-agents"),
    ),
    "langgraph-openinference-graph": Combo(
        "langchain",
        "test_langgraph_openinference_graph.py",
        ("openinference-langchain",),
        ("openai", "langchain-core", "langchain-openai", "langgraph", "openinference-instrumentation-langchain"),
    ),
    "langgraph-traceloop-graph": Combo(
        "langchain",
        "test_langgraph_traceloop_graph.py",
        ("traceloop-langchain",),
        ("openai", "langchain-core", "langchain-openai", "langgraph", "opentelemetry-instrumentation-langchain"),
    ),
    "openinference-agents+openai-graph": Combo(
        "agents",
        "test_openinference_agents_and_openai_graph.py",
        ("openinference-agents", "openinference"),
        (
            "openai",
            "openai-agents",
            "openinference-instrumentation-openai-agents",
            "openinference-instrumentation-openai",
        ),
    ),
    "traceloop-agents+openai-graph": Combo(
        "agents",
        "test_traceloop_agents_and_openai_graph.py",
        ("traceloop-agents", "traceloop"),
        (
            "openai",
            "openai-agents",
            "opentelemetry-instrumentation-openai-agents",
            "opentelemetry-instrumentation-openai",
        ),
    ),
    "pydantic-ai-graph": Combo(
        "current",
        "test_pydantic_ai_graph.py",
        ("pydantic-ai",),
        ("openai", "pydantic-ai-slim"),
    ),
}


def pinned_version(environment: str, distribution: str) -> str:
    """The version ``distribution`` is pinned to in ``environment``."""
    for pin in ENVIRONMENTS[environment]:
        name, _, version = pin.partition("==")
        if name.split("[", 1)[0].lower() == distribution.lower():
            return version
    raise KeyError(distribution + " is not pinned in " + environment)
