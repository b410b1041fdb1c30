"""``ldai_otel.testing.OpenAIStub``: answers as the OpenAI API does, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from ldai_otel.testing import OpenAIStub


def _post(url: str, body: dict) -> tuple[int, bytes, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def test_chat_completion_has_unique_ids_and_the_given_usage():
    with OpenAIStub(prompt_tokens=5, completion_tokens=3) as stub:
        url = stub.base_url + "/chat/completions"
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        answers = [json.loads(_post(url, body)[1]) for _ in range(3)]
        assert len(stub.requests) == 3
        assert stub.requests[0] == body
    assert len({a["id"] for a in answers}) == 3
    assert all(a["id"].startswith("chatcmpl-") for a in answers)
    assert answers[0]["model"] == "gpt-4o-mini"
    assert answers[0]["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    assert answers[0]["choices"][0]["message"] == {"role": "assistant", "content": "Hello from the stub."}


def _stream(stub: OpenAIStub, include_usage: bool) -> list[dict]:
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": include_usage}}
    status, raw, content_type = _post(stub.base_url + "/chat/completions", body)
    assert status == 200 and content_type == "text/event-stream"
    events = [line[len(b"data: ") :] for line in raw.split(b"\n\n") if line.startswith(b"data: ")]
    assert events[-1] == b"[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_stream_carries_usage_only_when_asked():
    with OpenAIStub() as stub:
        with_usage = _stream(stub, include_usage=True)
        without = _stream(stub, include_usage=False)
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["total_tokens"] == 18
    assert all(chunk.get("usage") is None for chunk in without)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in without) == "Hello from the stub."
    assert len({c["id"] for c in with_usage}) == 1 and with_usage[0]["id"] != without[0]["id"]


@pytest.mark.parametrize(
    ("path", "model", "status"), [("/chat/completions", "fail-500", 500), ("/embeddings", "m", 404)]
)
def test_errors(path, model, status):
    with OpenAIStub() as stub:
        code, raw, _ = _post(stub.base_url + path, {"model": model, "messages": []})
    assert code == status
    assert "error" in json.loads(raw)


def test_close_frees_the_port():
    stub = OpenAIStub()
    url = stub.base_url + "/chat/completions"
    stub.close()
    with pytest.raises(urllib.error.URLError):
        _post(url, {"model": "m"})
