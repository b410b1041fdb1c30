"""Attribute keys read from GenAI spans and written onto run spans.

Every dotted key is spelled out here once, as our own constant: the
``opentelemetry-semantic-conventions`` package marks its ``gen_ai.*`` constants
as incubating and moves them between releases, and the other dialects
(OpenInference, OpenLLMetry, pydantic-ai, logfire, the Vercel AI SDK) have no
Python constants we could depend on without installing them. docs/dialects.md
lists which dialect writes which key, and docs/stacks.md the real
instrumentations each key was read from.
"""

SERVICE_NAME = "service.name"
"""Resource attribute: which service wrote a span (``ldai-otel inspect``)."""

# --- Written by ldai-otel onto run spans (ai_run's own span, on_start). -----
# The ``ld.ai_config.`` prefix follows LaunchDarkly's own naming.
LD_AI_CONFIG_KEY = "ld.ai_config.key"
LD_AI_CONFIG_VARIATION_KEY = "ld.ai_config.variation_key"
LD_AI_CONFIG_VERSION = "ld.ai_config.version"
LD_AI_CONFIG_RUN_ID = "ld.ai_config.run_id"
# Read by `ldai-otel inspect` when present (the AI Config's model and provider
# are not otherwise in spans).
LD_AI_CONFIG_MODEL_NAME = "ld.ai_config.model_name"
LD_AI_CONFIG_PROVIDER_NAME = "ld.ai_config.provider_name"
# Written on the ai_run span only with ai_run(..., record_context=True), for
# `ldai-otel serve`, which sees no OTel context: the LaunchDarkly context's
# kind and key (often personal data: off by default). A multi-context writes
# both as string arrays, one item per individual context.
LD_AI_CONFIG_CONTEXT_KIND = "ld.ai_config.context.kind"
LD_AI_CONFIG_CONTEXT_KEY = "ld.ai_config.context.key"
# Stamped by LDAISpanProcessor with the other ld.ai_config.* keys: this run's
# spans were emitted in process, so `ldai-otel serve` does not count them again.
LD_AI_CONFIG_EMITTER = "ld.ai_config.emitter"
LD_AI_CONFIG_EMITTER_VALUE = "ldai-otel"
# Written on a run's local root only (the ai_run span, or the span that resumed the
# run from baggage), and on a span that entered a later segment of an emitted run:
# how the run was entered in that process. Readers of ended spans
# (`inspect`, `serve`) rebuild the segment's role from it (model/roles.py); a
# member span never carries it. An ai_run span without it (no processor) is known
# by its instrumentation scope.
LD_AI_CONFIG_ENTRY = "ld.ai_config.entry"
ENTRY_AI_RUN = "ai_run"
ENTRY_RESUMED = "resumed"
"""Resumed from ldai-otel's signed baggage."""
ENTRY_RESUMED_PLAIN = "resumed_plain"
"""Resumed from a plain LaunchDarkly resumption token (``trust_unsigned_tokens``)."""
ENTRY_CONTINUATION = "continuation"
"""A span that entered a later segment of a run already emitted in its process (not by a parent span
of that segment): it and the spans under it are a continuation."""
# Written on the ai_run span of an agent graph (ai_run(graph, ...)): the graph's
# nodes (key, variation, version, model, provider), edges and agent-name map as
# one JSON object, so readers of exported spans (`inspect`, `serve`) rebuild the
# graph run without LaunchDarkly.
LD_AI_CONFIG_GRAPH = "ld.ai_config.graph"
# Written on the ai_run span of a run whose AI Config has judges attached: the judge config
# keys (a string array), so `ldai-otel inspect` says which judges the processor runs.
LD_AI_CONFIG_JUDGES = "ld.ai_config.judges"

# --- Written by LaunchDarkly's own AI SDKs, which send their own events. ---
LAUNCHDARKLY_RUN_ID = "launchdarkly.run.id"

# --- OpenTelemetry GenAI semantic conventions (current). -------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_INPUT_TOKENS_CACHED = "gen_ai.usage.input_tokens.cached"
GEN_AI_USAGE_INPUT_TOKENS_CACHE_WRITE = "gen_ai.usage.input_tokens.cache_write"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS_REASONING = "gen_ai.usage.output_tokens.reasoning"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
"""The provider's id of a response: spans of one call that share it are one call."""
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
# Fields of the gen_ai.output.messages JSON: [{"role", "parts": [{"type", "name"}]}]
PARTS_FIELD = "parts"
PART_TYPE_FIELD = "type"
PART_NAME_FIELD = "name"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
ERROR_TYPE = "error.type"

# --- Strands Agents (built-in OpenTelemetry). -------------------------------
GEN_AI_SERVER_TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token"
"""Milliseconds (Strands writes it on its model-call spans)."""

# --- Handoffs between agents: agent-graph edges, never tool calls. ---------
GEN_AI_HANDOFF_FROM_AGENT = "gen_ai.handoff.from_agent"
GEN_AI_HANDOFF_TO_AGENT = "gen_ai.handoff.to_agent"
HANDOFF_OPERATIONS = frozenset({"handoff"})
"""``gen_ai.operation.name`` / ``traceloop.span.kind`` of Traceloop's openai-agents handoff spans."""
OPENINFERENCE_HANDOFF_PREFIX = "handoff to "
GOTO_OPERATIONS = frozenset({"goto"})
"""``gen_ai.operation.name`` of Traceloop LangChain's span for a LangGraph ``Command(goto=...)``."""
LANGGRAPH_COMMAND_SOURCE_NODE = "langgraph.command.source_node"
LANGGRAPH_COMMAND_GOTO_NODE = "langgraph.command.goto_node"
LANGGRAPH_END = "__end__"
"""LangGraph's END: a goto there ends the graph, it hands off to no node."""
HANDOFF_TOOL_PREFIX = "transfer_to_"
"""The handoff tools the OpenAI Agents SDK (``Handoff.default_tool_name``) and
langgraph-supervisor offer the model: a request for one is a handoff, not a tool call."""
"""OpenInference openai-agents writes a handoff as a TOOL span named ``handoff to <agent>``."""
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
"""On OpenInference's handoff span: the source agent and the target agent."""

# --- Instrumentations whose input tokens exclude the prompt cache. ---------
# AWS Converse's inputTokens excludes cacheReadInputTokens and
# cacheWriteInputTokens; contrib botocore (scope per AWS service) and
# Traceloop bedrock copy it into gen_ai.usage.input_tokens as it is, and
# Traceloop's gen_ai.usage.total_tokens is that input plus output. LaunchDarkly
# counts every prompt token as input, so for these scopes and this provider
# the cache counts are added back and the total is recomputed.
CACHE_EXCLUSIVE_INPUT_SCOPES = (
    "opentelemetry.instrumentation.botocore.",
    "opentelemetry.instrumentation.bedrock",
)
"""Scope names (a trailing dot: a prefix) whose input tokens exclude the prompt cache."""
CACHE_EXCLUSIVE_INPUT_PROVIDERS = frozenset({"aws.bedrock"})

# --- OpenTelemetry GenAI semantic conventions (deprecated names). ----------
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"

# --- pydantic-ai: agent spans carry their children's usage. ----------------
GEN_AI_AGGREGATED_USAGE_INPUT_TOKENS = "gen_ai.aggregated_usage.input_tokens"
GEN_AI_AGGREGATED_USAGE_OUTPUT_TOKENS = "gen_ai.aggregated_usage.output_tokens"

# --- logfire: a streamed call's usage sits on a zero-length log span. ------
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_SPAN_TYPE_LOG = "log"
LOGFIRE_SPAN_TYPE_SPAN = "span"
LOGFIRE_DURATION = "duration"
"""Seconds; on logfire's stream log span, the length of the consumed stream."""

# --- OpenLLMetry (Traceloop) additions. ------------------------------------
GEN_AI_USAGE_TOTAL_TOKENS = "gen_ai.usage.total_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_LEGACY = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_LEGACY = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_USAGE_REASONING_TOKENS = "gen_ai.usage.reasoning_tokens"
LLM_USAGE_TOTAL_TOKENS = "llm.usage.total_tokens"
LLM_USAGE_REASONING_TOKENS = "llm.usage.reasoning_tokens"
LLM_REQUEST_TYPE = "llm.request.type"
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
GEN_AI_IS_STREAMING = "gen_ai.is_streaming"
LLM_IS_STREAMING = "llm.is_streaming"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
# LangGraph node names: Traceloop copies LangChain metadata into association
# properties; OpenInference writes it as the `metadata` JSON attribute. Every
# span under a node carries its node's name: the node's own span is the one
# whose name equals it.
TRACELOOP_LANGGRAPH_NODE = "traceloop.association.properties.langgraph_node"
OPENINFERENCE_METADATA = "metadata"
LANGGRAPH_NODE_KEY = "langgraph_node"
# Span events, one per streamed chunk: the first one is the first token.
GEN_AI_CONTENT_COMPLETION_CHUNK_EVENT = "gen_ai.content.completion.chunk"
LLM_CONTENT_COMPLETION_CHUNK_EVENT = "llm.content.completion.chunk"
# Legacy indexed completions: gen_ai.completion.<i>.tool_calls.<j>.name
GEN_AI_COMPLETION_PREFIX = "gen_ai.completion."
TOOL_CALLS_INFIX = ".tool_calls."
NAME_SUFFIX = ".name"

# --- OpenInference. ---------------------------------------------------------
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
LLM_MODEL_NAME = "llm.model_name"
EMBEDDING_MODEL_NAME = "embedding.model_name"
LLM_PROVIDER = "llm.provider"
LLM_SYSTEM = "llm.system"
LLM_INVOCATION_PARAMETERS = "llm.invocation_parameters"
AGENT_NAME = "agent.name"
GRAPH_NODE_ID = "graph.node.id"
GRAPH_NODE_PARENT_ID = "graph.node.parent_id"
INVOCATION_MODEL_FIELD = "model"
"""Field of the ``llm.invocation_parameters`` JSON object."""
LLM_TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
LLM_TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
LLM_TOKEN_COUNT_TOTAL = "llm.token_count.total"
LLM_TOKEN_COUNT_PROMPT_CACHE_READ = "llm.token_count.prompt_details.cache_read"
LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
LLM_TOKEN_COUNT_COMPLETION_REASONING = "llm.token_count.completion_details.reasoning"
TOOL_NAME = "tool.name"
FIRST_TOKEN_STREAM_EVENT = "First Token Stream Event"
# Indexed output messages: llm.output_messages.<i>.message.tool_calls.<j>.tool_call.function.name
LLM_OUTPUT_MESSAGES_PREFIX = "llm.output_messages."
MESSAGE_TOOL_CALLS_INFIX = ".message.tool_calls."
TOOL_CALL_FUNCTION_NAME_SUFFIX = ".tool_call.function.name"
# google-genai automatic function calling: the calls the SDK made for the model,
# unprefixed: message.tool_calls.<j>.tool_call.function.name
MESSAGE_TOOL_CALLS_PREFIX = "message.tool_calls."
OPENINFERENCE_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})
OPENINFERENCE_TOOL_KINDS = frozenset({"TOOL"})
OPENINFERENCE_AGENT_KINDS = frozenset({"AGENT", "CHAIN"})

# --- Vercel AI SDK (``ai.*``), e.g. from a TypeScript service's spans. -----
AI_OPERATION_ID = "ai.operationId"
AI_MODEL_ID = "ai.model.id"
AI_MODEL_PROVIDER = "ai.model.provider"
AI_USAGE_INPUT_TOKENS = "ai.usage.inputTokens"
AI_USAGE_PROMPT_TOKENS = "ai.usage.promptTokens"
AI_USAGE_OUTPUT_TOKENS = "ai.usage.outputTokens"
AI_USAGE_COMPLETION_TOKENS = "ai.usage.completionTokens"
AI_USAGE_TOTAL_TOKENS = "ai.usage.totalTokens"
AI_USAGE_TOKENS = "ai.usage.tokens"
"""Embedding calls: the input token count."""
AI_USAGE_CACHED_INPUT_TOKENS = "ai.usage.cachedInputTokens"
AI_USAGE_REASONING_TOKENS = "ai.usage.reasoningTokens"
AI_RESPONSE_MS_TO_FIRST_CHUNK = "ai.response.msToFirstChunk"
AI_STREAM_MS_TO_FIRST_CHUNK = "ai.stream.msToFirstChunk"
AI_TOOL_CALL_NAME = "ai.toolCall.name"
AI_RESPONSE_TOOL_CALLS = "ai.response.toolCalls"
AI_TOOL_NAME_FIELD = "toolName"
"""Field of each entry of the ``ai.response.toolCalls`` JSON list."""
AI_MODEL_CALL_OPERATIONS = frozenset(
    {
        "ai.generateText.doGenerate",
        "ai.streamText.doStream",
        "ai.generateObject.doGenerate",
        "ai.streamObject.doStream",
        "ai.embed.doEmbed",
        "ai.embedMany.doEmbed",
    }
)
AI_TOOL_OPERATIONS = frozenset({"ai.toolCall"})
AI_AGENT_OPERATIONS = frozenset(
    {
        "ai.generateText",
        "ai.streamText",
        "ai.generateObject",
        "ai.streamObject",
        "ai.embed",
        "ai.embedMany",
    }
)

# --- gen_ai.operation.name values, grouped by span class. ------------------
MODEL_CALL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
TOOL_OPERATIONS = frozenset({"execute_tool"})
AGENT_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow", "create_agent", "plan"})
CREATE_AGENT_OPERATION = "create_agent"
"""An agent's definition (Traceloop LangChain writes it when a graph is compiled), not a run of it."""

# --- llm.request.type values (OpenLLMetry before gen_ai.operation.name). ---
LEGACY_MODEL_REQUEST_TYPES = frozenset({"chat", "completion", "embedding", "rerank"})

# --- traceloop.span.kind values (OpenLLMetry SDK decorators). -------------
TRACELOOP_TOOL_KINDS = frozenset({"tool"})
TRACELOOP_AGENT_KINDS = frozenset({"workflow", "task", "agent"})

# --- Marks in a model response that it asked for tools. -------------------
TOOL_CALL_MARK = "tool_call"
"""Substring of ``tool_call`` / ``tool_calls`` finish reasons and message parts."""

# --- OpenInference output.value: the response id it has no attribute for. -
OUTPUT_MIME_TYPE = "output.mime_type"
JSON_MIME_TYPE = "application/json"
RESPONSE_ID_FIELD = "id"
"""The response id in an OpenAI response object, and in LangChain's ``llm_output``."""
OPENAI_OBJECT_FIELD = "object"
"""Present on OpenAI response objects (``chat.completion``, ``chat.completion.chunk``, ``response``)."""
LANGCHAIN_RESULT_TYPE_FIELD = "type"
LANGCHAIN_RESULT_TYPE = "LLMResult"
LANGCHAIN_LLM_OUTPUT_FIELD = "llm_output"

# --- Token counts: every spelling of each, in the order the dialects read them. -
# The dialects (dialects.reader) read each count from the first of its keys that
# holds a valid one; `ldai-otel inspect` reports every one of them that holds junk.
INPUT_TOKEN_KEYS = (
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_PROMPT_TOKENS,
    LLM_TOKEN_COUNT_PROMPT,
    AI_USAGE_INPUT_TOKENS,
    AI_USAGE_PROMPT_TOKENS,
    AI_USAGE_TOKENS,
)
OUTPUT_TOKEN_KEYS = (
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_COMPLETION_TOKENS,
    LLM_TOKEN_COUNT_COMPLETION,
    AI_USAGE_OUTPUT_TOKENS,
    AI_USAGE_COMPLETION_TOKENS,
)
TOTAL_TOKEN_KEYS = (
    GEN_AI_USAGE_TOTAL_TOKENS,
    LLM_USAGE_TOTAL_TOKENS,
    LLM_TOKEN_COUNT_TOTAL,
    AI_USAGE_TOTAL_TOKENS,
)
CACHE_READ_TOKEN_KEYS = (
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS_CACHED,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_LEGACY,
    LLM_TOKEN_COUNT_PROMPT_CACHE_READ,
    AI_USAGE_CACHED_INPUT_TOKENS,
)
CACHE_WRITE_TOKEN_KEYS = (
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    GEN_AI_USAGE_INPUT_TOKENS_CACHE_WRITE,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_LEGACY,
    LLM_TOKEN_COUNT_PROMPT_CACHE_WRITE,
)
REASONING_TOKEN_KEYS = (
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS_REASONING,
    GEN_AI_USAGE_REASONING_TOKENS,
    LLM_USAGE_REASONING_TOKENS,
    LLM_TOKEN_COUNT_COMPLETION_REASONING,
    AI_USAGE_REASONING_TOKENS,
)
AGGREGATED_TOKEN_KEYS = (GEN_AI_AGGREGATED_USAGE_INPUT_TOKENS, GEN_AI_AGGREGATED_USAGE_OUTPUT_TOKENS)
"""pydantic-ai's agent spans: the sum of their children's usage."""
TOKEN_KEYS = (
    INPUT_TOKEN_KEYS
    + OUTPUT_TOKEN_KEYS
    + TOTAL_TOKEN_KEYS
    + CACHE_READ_TOKEN_KEYS
    + CACHE_WRITE_TOKEN_KEYS
    + REASONING_TOKEN_KEYS
    + AGGREGATED_TOKEN_KEYS
)
"""Every attribute key a token count is read from."""
