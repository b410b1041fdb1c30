"""OpenInference ``openinference-instrumentation-google-genai`` 1.4.14 on google-genai 2.34.0.

One LLM span per call (``GenerateContent`` / ``GenerateContentStream``), ``llm.provider``
``google``, no response id. ``llm.token_count.prompt`` = ``promptTokenCount`` +
``toolUsePromptTokenCount`` (cached content already inside, also written as
``llm.token_count.prompt_details.cache_read``); ``llm.token_count.completion`` =
candidates + thoughts (``llm.token_count.completion_details.reasoning``);
``llm.token_count.total`` = ``totalTokenCount``. No time to first token (no
``First Token Stream Event``). Function calls of responses are recorded under
``llm.output_messages.0.message.tool_calls.*``; automatic function calling writes no
tool span, and the calls it made sit unprefixed under ``message.tool_calls.*``.
Errors: status ERROR and an ``exception`` event, no ``error.type``.
"""

from gemini_cases import TOOL, GeminiCases


class TestOpenInferenceGoogleGenAI(GeminiCases):
    provider = "google"
    ttft_source = None
    response_tool_calls = True
    afc_tool_calls = (TOOL,)
