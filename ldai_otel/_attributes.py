"""Attribute keys read from GenAI spans and written onto run spans.

Every dotted key is spelled out here once, as our own constant: the
``opentelemetry-semantic-conventions`` package marks its ``gen_ai.*`` constants
as incubating and moves them between releases, so depending on it would tie
this library to one snapshot of the conventions.
"""

# --- Written by ldai-otel onto every span of a run (on_start). -------------
# The ``ld.ai_config.`` prefix follows LaunchDarkly's own naming.
LD_AI_CONFIG_KEY = "ld.ai_config.key"
LD_AI_CONFIG_VARIATION_KEY = "ld.ai_config.variation_key"
LD_AI_CONFIG_VERSION = "ld.ai_config.version"
LD_AI_CONFIG_RUN_ID = "ld.ai_config.run_id"

# --- OpenTelemetry GenAI semantic conventions (current). -------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
ERROR_TYPE = "error.type"

# --- OpenTelemetry GenAI semantic conventions (deprecated names). ----------
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"

# --- OpenLLMetry (Traceloop) additions. ------------------------------------
GEN_AI_USAGE_TOTAL_TOKENS = "gen_ai.usage.total_tokens"
LLM_USAGE_TOTAL_TOKENS = "llm.usage.total_tokens"
LLM_REQUEST_TYPE = "llm.request.type"
TRACELOOP_SPAN_KIND = "traceloop.span.kind"

# --- gen_ai.operation.name values, grouped by span class. ------------------
MODEL_CALL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings"}
)
TOOL_OPERATIONS = frozenset({"execute_tool"})
AGENT_OPERATIONS = frozenset(
    {"invoke_agent", "invoke_workflow", "create_agent", "plan"}
)
