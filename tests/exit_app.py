"""A script shaped like the README's Quick start, for the exit tests: ``python exit_app.py EVENTS_URI MODE``.

It sets up the global LaunchDarkly client (on TestData, its events going to
EVENTS_URI), a TracerProvider with an LDAISpanProcessor, runs five ``ai_run``
runs with GenAI spans, prints what it ran as one JSON line, then ends as MODE says:

- ``close``: ``ld_client.close()`` and nothing else (the order that used to lose every run);
- ``shutdown-close``: ``provider.shutdown()``, then ``ld_client.close()``;
- ``exit``: neither; the interpreter just exits;
- ``exit-no-threads``: as ``exit``, with every thread start refused at exit, as Python 3.12
  and later refuse them in ``atexit`` handlers;
- ``open-close``: as ``close``, with a sixth run still open (one of its calls ended) when the
  client closes;
- ``fork``: a pre-fork server's life: the parent runs two runs, forks a worker that calls
  ``postfork()``, runs the five runs and exits normally; the parent then just exits.
- ``multiprocessing``: the parent runs two runs and starts a ``multiprocessing`` worker (fork
  start method) that calls ``postfork()``, runs the five runs and, since such a worker ends
  with ``os._exit()``, calls ``provider.force_flush()`` at the end of its work.

Each line printed is ``{"pid": ..., "runs": {run_id: [input_tokens, output_tokens]}, ...}``.
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import sys
import threading

import ldclient
from genai import chat, tool
from ldai import LDAIClient
from ldai.models import AICompletionConfigDefault
from ldclient import Context
from ldclient.config import Config
from ldclient.integrations.test_data import TestData
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ldai_otel import LDAISpanProcessor, ai_run
from ldai_otel.testing import add_ai_config

CONFIG_KEY = "chat-config"


def run_some(ai_client: LDAIClient, context: Context, count: int, first_tokens: int) -> dict[str, list[int]]:
    """Runs ``count`` runs, each a chat call and a tool call; returns runId -> tokens."""
    tracer = trace.get_tracer("exit-app")
    config = ai_client.completion_config(CONFIG_KEY, context, AICompletionConfigDefault(enabled=False))
    runs: dict[str, list[int]] = {}
    for i in range(count):
        inp, out = first_tokens + i, 7 + i
        with ai_run(config, context) as run:
            chat(tracer, inp, out)
            with tool(tracer, "search"):
                pass
        runs[run.run_id] = [inp, out]
    return runs


def refuse_threads_from_now_on() -> None:
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    threading.Thread.start = refuse  # type: ignore[method-assign]


def report(**fields: object) -> None:
    sys.stdout.write(json.dumps({"pid": os.getpid(), **fields}) + "\n")
    sys.stdout.flush()


def main(events_uri: str, mode: str) -> None:
    td = TestData.data_source()
    add_ai_config(td, CONFIG_KEY, variation_key="v-exit", version=2)
    # The Quick start's setup, with TestData for flags and a loopback events endpoint.
    ldclient.set_config(
        Config("sdk-ldai-otel-exit", update_processor_class=td, events_uri=events_uri, diagnostic_opt_out=True)
    )
    ld_client = ldclient.get()
    ai_client = LDAIClient(ld_client)
    provider = TracerProvider()
    provider.add_span_processor(LDAISpanProcessor(ld_client))
    trace.set_tracer_provider(provider)
    context = Context.builder("user-123").kind("user").build()

    if mode == "multiprocessing":
        report(role="parent", runs=run_some(ai_client, context, 2, 500))

        def work() -> None:
            ld_client.postfork()
            report(role="child", runs=run_some(ai_client, context, 5, 100))
            provider.force_flush()  # the worker ends with os._exit(): no exit hook runs

        worker = multiprocessing.get_context("fork").Process(target=work)
        worker.start()
        worker.join()
        if worker.exitcode != 0:
            sys.exit(3)
        return

    if mode == "fork":
        report(role="parent", runs=run_some(ai_client, context, 2, 500))
        pid = os.fork()
        if pid == 0:
            ld_client.postfork()  # LaunchDarkly's rule for a forked child
            report(role="child", runs=run_some(ai_client, context, 5, 100))
            sys.exit(0)  # a normal exit, as a gunicorn worker's
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(3)
        return

    runs = run_some(ai_client, context, 5, 100)
    open_run = None
    if mode == "open-close":
        config = ai_client.completion_config(CONFIG_KEY, context, AICompletionConfigDefault(enabled=False))
        open_run = ai_run(config, context)
        run = open_run.__enter__()
        chat(trace.get_tracer("exit-app"), 40, 2)
        report(runs=runs, open_run=run.run_id)
    else:
        report(runs=runs)
    if mode == "exit-no-threads":
        atexit.register(refuse_threads_from_now_on)  # registered last: runs first
    if mode == "shutdown-close":
        provider.shutdown()
    if mode in ("close", "shutdown-close", "open-close"):
        ld_client.close()
    if open_run is not None:
        # The run ends after its client is gone: what it adds now cannot be sent.
        chat(trace.get_tracer("exit-app"), 1, 1)
        open_run.__exit__(None, None, None)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
