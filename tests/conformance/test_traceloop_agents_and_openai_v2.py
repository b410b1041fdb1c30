"""Traceloop openai-agents 0.62.4 with OpenTelemetry contrib openai-v2 2.4b0 underneath.

openai-v2 2.4b0 (scope ``opentelemetry.util.genai.handler``) instruments Chat
Completions only: there its ``chat gpt-4o-mini`` span, nested in Traceloop's
usage-less ``openai.response`` span, is the only usage source (11 / 7, with
``gen_ai.response.id``); Responses calls are counted from Traceloop's spans. A
failed Responses call names no model (modelName ""); a failed chat call's
openai-v2 span has ``gen_ai.request.model`` and ``error.type``
``"<class 'openai.InternalServerError'>"``. No time to first token.
"""

from agents_cases import AgentsSDKCases
from agents_scenarios import CHAT_COMPLETIONS, RESPONSES

OPENAI_V2_SCOPE = "opentelemetry.util.genai.handler"


class TestTraceloopAgentsAndOpenAIV2(AgentsSDKCases):
    error_model = {RESPONSES: "", CHAT_COMPLETIONS: "fail-500"}

    def test_chat_usage_really_sits_only_on_the_openai_v2_span(self, stack):
        import agents_scenarios

        with stack.run() as run:
            agents_scenarios.chat_run(stack.stub, CHAT_COMPLETIONS)
        stack.events(run)
        with_usage = [
            (s.instrumentation_scope.name, s.name)
            for s in stack.spans(run)
            if "gen_ai.usage.input_tokens" in (s.attributes or {})
        ]
        assert with_usage == [(OPENAI_V2_SCOPE, "chat gpt-4o-mini")]
