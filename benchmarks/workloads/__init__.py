"""The workloads of ``benchmarks/bench.py``, one module each; ``bench_common`` holds what they share.

- ``non_genai``: HTTP-like spans outside any run, against no processor and the floors.
- ``genai``: the GenAI-heavy request (``ai_run`` against hand-written ``ldai`` tracking).
- ``breakdown``: where the GenAI-heavy app-thread time goes, and its profile.
- ``resumed``: a downstream request resuming a run from baggage.
- ``openai_call``: one instrumented OpenAI call against a loopback stub.
- ``memory``: a million spans over 100,000 runs, in a child process.
"""
