"""What every workload of ``bench.py`` shares: the statistics, the events sink and client, the clocks.

``bench.py`` is the entry point; each workload is a module of ``workloads/``. A figure is a
median over repetitions (:class:`Spread`), a ratio of added costs a ratio of medians with a
bootstrap spread (:class:`AddedRatio`). Variants are measured one after another in each
repetition, in a rotating order (:func:`interleaved`), or alternating every few requests when
they have no background work (:func:`finely_interleaved`). A real ``LDClient`` sends to a
loopback sink in a child process (:class:`SinkProcess`), so receiving the events is not counted.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence

from ldai.models import AICompletionConfigDefault
from ldclient import Config, Context, LDClient
from ldclient.integrations.test_data import TestData

from ldai_otel import LDAISpanProcessor
from ldai_otel.testing import add_ai_config

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_KEY = "chat-config"
MARKER_KEY = "ldai-otel-bench:marker"
DEFAULT_CONFIG = AICompletionConfigDefault(enabled=False)


# --------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------


class Spread:
    """Median, interquartile range and extremes of one measured figure."""

    def __init__(self, values: Sequence[float]):
        ordered = sorted(values)
        self.values = ordered
        self.median = statistics.median(ordered)
        if len(ordered) >= 4:
            quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
            self.q1, self.q3 = quartiles[0], quartiles[2]
        else:
            self.q1, self.q3 = ordered[0], ordered[-1]
        self.low, self.high = ordered[0], ordered[-1]

    def format(self, fmt: str = "%.3f") -> str:
        return (fmt + " [IQR " + fmt + "-" + fmt + "] (" + fmt + ".." + fmt + ")") % (
            self.median,
            self.q1,
            self.q3,
            self.low,
            self.high,
        )


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


class AddedRatio:
    """(variant - base) / (reference - base), as a ratio of medians over repetitions.

    A ratio per repetition would divide by a small, noisy difference (the
    reference's added cost is a fraction of the request's); the ratio of the
    medians is steadier. Its spread comes from a bootstrap over repetitions
    (pairs kept together): IQR and a 95% interval.
    """

    def __init__(
        self, samples: dict, variant: str, reference: str, attr: str, resamples: int = 2000, base: str | None = "base"
    ):
        if base is None:  # (variant - reference) / reference: what the variant adds to the reference
            ref = [getattr(s, attr) for s in samples[reference]]
            ours = [getattr(s, attr) - r for s, r in zip(samples[variant], ref, strict=True)]
        else:
            base_values = [getattr(s, attr) for s in samples[base]]
            ours = [getattr(s, attr) - b for s, b in zip(samples[variant], base_values, strict=True)]
            ref = [getattr(s, attr) - b for s, b in zip(samples[reference], base_values, strict=True)]
        self.median = ratio(statistics.median(ours), statistics.median(ref))
        rng = random.Random(20261122)  # fixed: the same samples give the same spread
        n = len(ours)
        boot = []
        for _ in range(resamples):
            picks = [rng.randrange(n) for _ in range(n)]
            boot.append(ratio(statistics.median([ours[i] for i in picks]), statistics.median([ref[i] for i in picks])))
        boot.sort()
        self.q1, self.q3 = boot[len(boot) // 4], boot[(3 * len(boot)) // 4]
        self.low, self.high = boot[int(len(boot) * 0.025)], boot[int(len(boot) * 0.975) - 1]

    def format(self, fmt: str = "%.2f") -> str:
        return (fmt + " [IQR " + fmt + "-" + fmt + "] (95%% " + fmt + ".." + fmt + ")") % (
            self.median,
            self.q1,
            self.q3,
            self.low,
            self.high,
        )


# --------------------------------------------------------------------------
# Loopback LaunchDarkly events sink (child process) and LD client
# --------------------------------------------------------------------------


class SinkProcess:
    """The events sink of ``benchmarks/_sink.py``, run as a child process on 127.0.0.1."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_sink.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.uri = self._process.stdout.readline().strip()
        if not self.uri.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError("events sink did not start")
        self._seq = itertools.count(1)

    def next_seq(self) -> int:
        return next(self._seq)

    def wait(self, seq: int) -> None:
        with urllib.request.urlopen(self.uri + "/wait/%d" % seq, timeout=60) as answer:
            if answer.status != 200:
                raise RuntimeError("flush marker %d never arrived" % seq)

    def counts(self) -> dict:
        with urllib.request.urlopen(self.uri + "/counts", timeout=10) as answer:
            return json.loads(answer.read())

    def close(self) -> None:
        try:
            self._process.stdin.close()
            self._process.wait(timeout=10)
        except Exception:
            self._process.kill()
            self._process.wait(timeout=10)


def make_ld_client(sink: SinkProcess, max_pending: int = 1_000_000, send_events: bool = True) -> LDClient:
    """A real LDClient on TestData sending events to the sink, flushed only when asked."""
    td = TestData.data_source()
    add_ai_config(td, CONFIG_KEY, variation_key="v-chat", version=3, model="gpt-test", provider="openai")
    config = Config(
        "sdk-ldai-otel-bench",
        update_processor_class=td,
        events_uri=sink.uri,
        send_events=send_events,
        diagnostic_opt_out=True,
        flush_interval=3600,
        events_max_pending=max_pending,
    )
    return LDClient(config=config, start_wait=5)


def deliver(ld_client: LDClient, sink: SinkProcess, processor: LDAISpanProcessor | None = None) -> None:
    """Hands everything to the client, flushes once and waits until the sink has it.

    A marker tracked before the one flush arrives in the same payload as every
    event queued before it (the same technique as ``ldai_otel.testing.flush_events``).
    """
    seq = sink.next_seq()
    ld_client.track(MARKER_KEY, Context.create("ldai-otel-bench"), {"seq": seq})
    if processor is not None:
        processor.force_flush()
    else:
        ld_client.flush()
    sink.wait(seq)


# --------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------


class Sample:
    """One variant's figures for one repetition, per request (microseconds)."""

    __slots__ = ("wall_us", "thread_us", "cpu_us")

    def __init__(self, wall_us: float, thread_us: float, cpu_us: float):
        self.wall_us = wall_us
        self.thread_us = thread_us
        self.cpu_us = cpu_us


def measure(request: Callable[[int], None], n: int, settle: Callable[[], None]) -> Sample:
    """Runs ``n`` requests; then ``settle`` (deliver), counted in process CPU only."""
    gc.collect()
    cpu0 = time.process_time_ns()
    thread0 = time.thread_time_ns()
    wall0 = time.perf_counter_ns()
    for i in range(n):
        request(i)
    wall1 = time.perf_counter_ns()
    thread1 = time.thread_time_ns()
    settle()
    cpu1 = time.process_time_ns()
    return Sample((wall1 - wall0) / n / 1000.0, (thread1 - thread0) / n / 1000.0, (cpu1 - cpu0) / n / 1000.0)


def interleaved(
    variants: dict[str, tuple[Callable[[int], None], Callable[[], None]]], n: int, reps: int, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Runs each variant once per repetition, rotating the order; drops warm-up reps."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for rep in range(warmup + reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            request, settle = variants[name]
            sample = measure(request, n, settle)
            if rep >= warmup:
                samples[name].append(sample)
    return samples


def finely_interleaved(
    variants: dict[str, Callable[[int], None]], n: int, reps: int, block: int = 50, warmup: int = 1
) -> dict[str, list[Sample]]:
    """Like :func:`interleaved`, for variants with no background work: each
    repetition alternates the variants every ``block`` requests, so that all
    of them see the same machine load (other processes, CPU frequency)."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    blocks = max(n // block, 1)
    for rep in range(warmup + reps):
        gc.collect()
        wall = dict.fromkeys(names, 0)
        thread = dict.fromkeys(names, 0)
        for b in range(blocks):
            order = names[(rep + b) % len(names) :] + names[: (rep + b) % len(names)]
            for name in order:
                request = variants[name]
                thread0 = time.thread_time_ns()
                wall0 = time.perf_counter_ns()
                for i in range(block):
                    request(i)
                wall[name] += time.perf_counter_ns() - wall0
                thread[name] += time.thread_time_ns() - thread0
        if rep >= warmup:
            total = blocks * block * 1000.0
            for name in names:
                samples[name].append(Sample(wall[name] / total, thread[name] / total, thread[name] / total))
    return samples


def per_rep(samples: dict[str, list[Sample]], fn: Callable[..., float], *names: str, attr: str) -> Spread:
    series = [[getattr(s, attr) for s in samples[name]] for name in names]
    return Spread([fn(*values) for values in zip(*series, strict=True)])


# --------------------------------------------------------------------------
# The GenAI spans' attributes, shared by the workloads that make model spans
# --------------------------------------------------------------------------


CHAT_START = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-test",
}
USAGE = (
    {"gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40, "gen_ai.response.model": "gpt-test"},
    {"gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 60, "gen_ai.response.model": "gpt-test"},
)
TOOL_START = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}

# The performance targets printed next to the ratios they bound (one place, several reports).
GENAI_THREAD_TARGET = 1.2
"""GenAI-heavy app thread: ldai-otel's added CPU / hand-written tracking's."""
GENAI_CPU_TARGET = 1.6
"""GenAI-heavy total CPU until the events are at the sink: ldai-otel / hand-written."""
NON_GENAI_TARGET = 1.05
"""Non-GenAI spans: thread CPU with the processor / a bare provider."""


AI_RUN_KEYS = (
    "$ld:ai:duration:total",
    "$ld:ai:generation:success",
    "$ld:ai:tokens:input",
    "$ld:ai:tokens:output",
    "$ld:ai:tokens:total",
    "$ld:ai:tool_call",
)
