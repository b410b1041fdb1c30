"""OpenInference openai-agents 2.6.0 with OpenTelemetry contrib openai-v2 2.4b0 underneath.

Two dialects on one call. openai-v2 2.4b0 (spans from scope
``opentelemetry.util.genai.handler``) instruments Chat Completions only: each
``generation`` LLM span has a ``chat gpt-4o-mini`` span nested in it, both with
usage 11 / 7, counted once; its spans carry ``gen_ai.response.id``, the
OpenInference ones none. Responses API calls get no openai-v2 span at all, so
a failed Responses call still names no model (modelName ""). No time to first
token from either.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES

OPENAI_V2_SCOPE = "opentelemetry.util.genai.handler"


class TestOpenInferenceAgentsAndOpenAIV2(AgentsSDKCases):
    error_model = {RESPONSES: "", CHAT_COMPLETIONS: "fail-500"}

    def test_only_chat_completions_calls_really_get_an_openai_v2_span(self, stack):
        import agents_scenarios

        scopes = {}
        for api in (RESPONSES, CHAT_COMPLETIONS):
            with stack.run() as run:
                agents_scenarios.chat_run(stack.stub, api)
            stack.events(run)
            scopes[api] = sorted(s.name for s in stack.spans(run) if s.instrumentation_scope.name == OPENAI_V2_SCOPE)
        assert scopes == {RESPONSES: [], CHAT_COMPLETIONS: ["chat gpt-4o-mini"]}
