"""The OpenAI stub as the LangChain cases need it: a unique response id per call, and a rendezvous.

:class:`LangChainOpenAIStub` is :class:`~openai_stub.OpenAIStub` (same routes,
usage 11 / 7 / 18 per chat call, same streams, same HTTP 500 body) with two
differences that the real API, or a real concurrent batch, has:

* every chat completion gets its own ``id`` (``chatcmpl-`` and 24 hex digits),
  as OpenAI's do, in its JSON body and in every chunk of its stream. The base
  stub answers ``chatcmpl-stub-1`` to every call; with one id for all calls a
  batch of three calls would look like one call seen three times;
* :meth:`LangChainOpenAIStub.rendezvous` makes the next ``n`` chat requests
  wait for one another before any is answered, so the calls of a ``batch()``
  are really in flight together and their spans' intervals overlap: the case
  where telling "two spans of one call" from "two concurrent calls" matters.

The ids handed out are kept in :attr:`LangChainOpenAIStub.response_ids`, in
answer order, for assertions.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

import openai_stub

RENDEZVOUS_TIMEOUT_S = 10.0
"""How long a request of a rendezvous waits for the others (a broken batch then still ends)."""


class _IdRewritingWriter:
    """Writes Server-Sent Events through to ``raw``, with the stub's fixed chat id replaced."""

    def __init__(self, raw: Any, response_id: str) -> None:
        self._raw = raw
        self._response_id = response_id

    def write(self, data: bytes) -> int:
        prefix = b"data: {"
        if data.startswith(prefix):
            payload = json.loads(data[len("data: ") :])
            if payload.get("id") == openai_stub.RESPONSE_ID:
                payload["id"] = self._response_id
            data = ("data: %s\n\n" % json.dumps(payload)).encode()
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


class _Handler(openai_stub._Handler):
    def _chat(self, body: dict[str, Any]) -> None:
        stub: LangChainOpenAIStub = self.server.stub  # type: ignore[attr-defined]
        stub._wait_for_the_others()
        if body.get("model", "") in openai_stub.ERROR_MODELS:
            super()._chat(body)
            return
        self._response_id = stub._new_response_id()
        if not body.get("stream"):
            super()._chat(body)
            return
        raw = self.wfile
        self.wfile = _IdRewritingWriter(raw, self._response_id)  # type: ignore[assignment]
        try:
            super()._chat(body)
        finally:
            self.wfile = raw

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        if payload.get("id") == openai_stub.RESPONSE_ID and getattr(self, "_response_id", None):
            payload = dict(payload, id=self._response_id)
        super()._send_json(status, payload)


class LangChainOpenAIStub(openai_stub.OpenAIStub):
    """:class:`~openai_stub.OpenAIStub` with a unique id per chat completion and :meth:`rendezvous`.

    Attributes:
        response_ids: The chat completion ids handed out, in answer order.
    """

    def __init__(self, first_chunk_delay_s: float = 0.0) -> None:
        """Starts the server on ``127.0.0.1`` at an ephemeral port.

        Args:
            first_chunk_delay_s: As for :class:`~openai_stub.OpenAIStub`.
        """
        super().__init__(first_chunk_delay_s=first_chunk_delay_s)
        self._server.RequestHandlerClass = _Handler
        self.response_ids: list[str] = []
        self._barrier: threading.Barrier | None = None
        self._waiting = 0

    def rendezvous(self, parties: int) -> None:
        """The next ``parties`` chat requests are answered only once all of them have arrived.

        Args:
            parties: How many concurrent requests to hold together (a batch's size).
        """
        with self._lock:
            self._barrier = threading.Barrier(parties, timeout=RENDEZVOUS_TIMEOUT_S)
            self._waiting = parties

    def _wait_for_the_others(self) -> None:
        with self._lock:
            barrier = self._barrier
            if barrier is not None:
                self._waiting -= 1
                if self._waiting == 0:
                    self._barrier = None  # this rendezvous is full: later requests go straight through
        if barrier is not None:
            barrier.wait()

    def _new_response_id(self) -> str:
        response_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        with self._lock:
            self.response_ids.append(response_id)
        return response_id
