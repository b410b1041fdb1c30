"""Online evaluations: the AI Config's judges run on a run's input and output.

For a run of ``ai_run(config, ...)`` whose config has judges attached
(``config.evaluator``, built by ``LDAIClient.completion_config``), once the
run's first segment closes, :class:`RunJudges` takes the pair to judge (handed
by the app through ``AIRun.set_evaluation_text``, else read from the run's
model-call spans by ``dialects.content``) and hands it to :class:`EvaluationRunner`:
one background event loop, a bounded number of pending evaluations (past it a
run is skipped and counted, never queued), a bounded number at once, and a
timeout per judge. Each result that was sampled and succeeded is tracked on
a tracker carrying the run's runId, variation and version, with
``track_judge_result``: LaunchDarkly's own event.

Judges run under an empty OTel context, so their own model calls start
traces of their own and never count in the evaluated run (ldai tracks them
under the judge's config key).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ldai_otel._ratelimit import RateLimitedLogger
from ldai_otel.dialects.content import Exchange, read_exchange
from ldai_otel.model.observation import MODEL
from ldai_otel.model.run import ORIGIN, RunInfo
from ldai_otel.model.segment import Segment
from ldai_otel.rules.trackers import run_tracker

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_PENDING = 100
DEFAULT_MAX_CONCURRENT = 4
DEFAULT_MAX_CHARS = 100_000


class RunEvaluation:
    """A judged run's evaluation state: its judges and the pair the app handed.

    Made by ``ai_run`` only for configs with judges; shared by the run object
    (the app's thread) and the emitter, hence its one lock.
    """

    __slots__ = ("evaluator", "judges", "judge_keys", "_lock", "_pair", "_taken", "outcome")

    def __init__(self, evaluator: Any, judges: list[Any]):
        self.evaluator = evaluator
        self.judges = judges
        self.judge_keys: list[str] = [_judge_key(judge) for judge in judges]
        self._lock = threading.Lock()
        self._pair: Exchange | None = None
        self._taken = False
        self.outcome = ""
        """What happened: ``queued``, ``skipped (...)`` or why nothing was judged."""

    def set_pair(self, input_text: str, output_text: str) -> None:
        """Records the pair the app wants judged (wins over span content)."""
        with self._lock:
            self._pair = Exchange(input_text, output_text)

    def take(self) -> tuple[bool, Exchange | None]:
        """``(first, pair)``: whether this is the first call, and the app's pair.

        The run is evaluated once: only the first caller gets ``first``.
        The pair is released here: content is kept only until evaluation.
        """
        with self._lock:
            first = not self._taken
            self._taken = True
            pair, self._pair = self._pair, None
        return first, pair


def _judge_key(judge: Any) -> str:
    try:
        return str(judge.get_ai_config().key)
    except Exception:
        return "unknown"


def run_evaluation_for(config: Any) -> RunEvaluation | None:
    """The evaluation state of a run of ``config``; None when it has no judges (the common case)."""
    evaluator = getattr(config, "evaluator", None)
    if evaluator is None:
        return None
    judges = getattr(evaluator, "_judges", None)  # ldai 1.2's Evaluator keeps its judges there
    if not isinstance(judges, list) or not judges:
        return None
    return RunEvaluation(evaluator, list(judges))


class EvaluationStats:
    """Counters of what happened to judged runs (read them through the processor)."""

    __slots__ = ("queued", "skipped_full", "no_content", "tracked", "not_sampled", "failed", "timed_out")

    def __init__(self) -> None:
        self.queued = 0
        self.skipped_full = 0
        self.no_content = 0
        self.tracked = 0
        self.not_sampled = 0
        self.failed = 0
        self.timed_out = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


Job = Callable[[], Awaitable[None]]

if TYPE_CHECKING:  # for the override's signature only
    from typing import TypeVar

    from typing_extensions import TypeVarTuple, Unpack

    _T = TypeVar("_T")
    _Ts = TypeVarTuple("_Ts")


class _JudgeLoop(asyncio.SelectorEventLoop):
    """The evaluation loop: work for executor threads still runs while the interpreter exits.

    asyncio hands blocking calls (name lookups; the openai client's platform
    probe) to its default executor, which refuses work once the interpreter
    has begun to exit; the tracer provider's own exit hook, which shuts the
    processor down and so waits for judges, runs after that. Then the call
    runs on this loop's thread, which only judges use.
    """

    def run_in_executor(
        self, executor: concurrent.futures.Executor | None, func: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]
    ) -> asyncio.Future[_T]:
        try:
            return super().run_in_executor(executor, func, *args)
        except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
            future: asyncio.Future[_T] = self.create_future()
            try:
                future.set_result(func(*args))
            except Exception as exc:
                future.set_exception(exc)
            return future


class EvaluationRunner:
    """One background event loop that runs evaluation jobs, bounded.

    The loop's thread starts with the first job: a process whose runs have no
    judges never starts it.

    Args:
        max_pending: Most jobs queued or running; past it :meth:`submit`
            refuses (and counts) rather than block or grow.
        max_concurrent: Most jobs running at once.
    """

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING, max_concurrent: int = DEFAULT_MAX_CONCURRENT):
        if max_pending < 1 or max_concurrent < 1:
            raise ValueError("max_pending and max_concurrent must be at least 1")
        self._max_pending = max_pending
        self._max_concurrent = max_concurrent
        self.stats = EvaluationStats()
        # One condition (and its lock) guards the loop, the count and the stats.
        self._condition = threading.Condition(threading.Lock())
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs queued or running now."""
        with self._condition:
            return self._pending

    def count(self, name: str) -> None:
        """Adds one to the counter ``name`` of :attr:`stats`."""
        with self._condition:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def submit(self, job: Job) -> bool:
        """Queues ``job`` on the loop; False (counted as skipped) when full or closed."""
        with self._condition:
            if self._pid != os.getpid():  # a forked child: the parent's loop thread is not here
                self._loop, self._thread, self._semaphore = None, None, None
                self._pending, self._pid = 0, os.getpid()
            if self._closed or self._pending >= self._max_pending:
                self.stats.skipped_full += 1
                return False
            loop = self._loop if self._loop is not None else self._start_loop_locked()
            self._pending += 1
            self.stats.queued += 1
        # An empty context: the judge's spans must not join the run (nor any
        # other trace of the thread that submitted it).
        loop.call_soon_threadsafe(self._start_job, job, context=contextvars.Context())
        return True

    def _start_loop_locked(self) -> asyncio.AbstractEventLoop:
        loop = _JudgeLoop()
        thread = threading.Thread(target=self._run_loop, args=(loop,), name="ldai-otel-judges", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        return loop

    def _run_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _start_job(self, job: Job) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self._max_concurrent)
        asyncio.get_running_loop().create_task(self._run_job(job, self._semaphore))

    async def _run_job(self, job: Job, semaphore: asyncio.Semaphore) -> None:
        try:
            async with semaphore:
                await job()
        except Exception:
            _warn.exception("ldai-otel: an online evaluation failed; the run's other events are sent")
        finally:
            with self._condition:
                self._pending -= 1
                self._condition.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Waits until every submitted job finished; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending == 0, timeout=max(timeout_s, 0.0))

    def shutdown(self, timeout_s: float) -> bool:
        """Waits for pending jobs (within ``timeout_s``), then stops the loop."""
        done = self.flush(timeout_s)
        with self._condition:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5.0)
        return done


class RunJudges:
    """Runs a judged run's judges once its first segment closes.

    Called on the emitter thread with each closed segment, before it is
    emitted (its ended spans still held). Costs one attribute check for runs
    without judges.

    Args:
        ld_client: The ``ldclient.LDClient`` judge results go through.
        runner: Runs the evaluations.
        timeout_s: Longest one judge may take; then its result is lost (one
            rate-limited warning), never the run's other events.
        max_chars: Most characters of either side of the pair.
        enabled: False: no judge runs (content is never read).
    """

    def __init__(
        self,
        ld_client: Any,
        runner: EvaluationRunner,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_chars: int = DEFAULT_MAX_CHARS,
        enabled: bool = True,
    ):
        self._ld_client = ld_client
        self._runner = runner
        self._timeout_s = timeout_s
        self._max_chars = max_chars
        self._enabled = enabled

    def on_segment_closed(self, segment: Segment) -> None:
        """Queues the run's evaluation when ``segment`` is its first (origin) segment."""
        info = segment.binding.info
        evaluation = info.evaluation
        if evaluation is None or segment.role != ORIGIN or not self._enabled:
            return
        first, pair = evaluation.take()
        if not first:
            return
        if pair is None:
            report = read_exchange(segment.pending, self._max_chars)
            pair = report.exchange
            if pair is None:
                reason = report.reason
                if report.model_calls == 0 and any(o.kind == MODEL for o in segment.observations):
                    # Read on the app's thread: the pending-span bound was reached.
                    reason = "the model-call spans were read at once under load, their content not kept"
                evaluation.outcome = reason
                self._runner.count("no_content")
                _warn.warning(
                    "ldai-otel: run of config %s has judges but nothing to judge: %s "
                    "(turn on the instrumentation's content capture, or call run.set_evaluation_text)",
                    info.config_key,
                    reason,
                )
                return
        job = _JudgeJob(self._ld_client, segment.binding.run_id, info, evaluation, pair, self._timeout_s, self._runner)
        if self._runner.submit(job.run):
            evaluation.outcome = "queued"
        else:
            evaluation.outcome = "skipped: too many evaluations pending"
            _warn.warning(
                "ldai-otel: too many online evaluations pending; a run of config %s is not judged",
                info.config_key,
            )


class _JudgeJob:
    """One run's evaluation: every judge at once, each with its own timeout."""

    def __init__(
        self,
        ld_client: Any,
        run_id: str,
        info: RunInfo,
        evaluation: RunEvaluation,
        pair: Exchange,
        timeout_s: float,
        runner: EvaluationRunner,
    ):
        self._ld_client = ld_client
        self._run_id = run_id
        self._info = info
        self._evaluation = evaluation
        self._pair: Exchange | None = pair
        self._timeout_s = timeout_s
        self._runner = runner

    async def run(self) -> None:
        pair, self._pair = self._pair, None  # released once evaluated
        if pair is None:
            return
        judges = self._evaluation.judges
        results = await asyncio.gather(*(self._one(judge, pair) for judge in judges))
        tracker = None
        for key, result in zip(self._evaluation.judge_keys, results, strict=True):
            if result is None:
                continue
            if not result.sampled:
                self._runner.count("not_sampled")
                continue
            if not result.success:
                self._runner.count("failed")
                _warn.warning("ldai-otel: judge %s of config %s failed; no result for it", key, self._info.config_key)
                continue
            if tracker is None:
                tracker = self._tracker()
            tracker.track_judge_result(result)
            self._runner.count("tracked")

    async def _one(self, judge: Any, pair: Exchange) -> Any:
        try:
            return await asyncio.wait_for(judge.evaluate(pair.input, pair.output), self._timeout_s)
        except asyncio.TimeoutError:
            self._runner.count("timed_out")
            _warn.warning(
                "ldai-otel: judge %s of config %s took over %ss; no result for it",
                _judge_key(judge),
                self._info.config_key,
                self._timeout_s,
            )
        except Exception:
            self._runner.count("failed")
            _warn.exception("ldai-otel: judge %s of config %s failed", _judge_key(judge), self._info.config_key)
        return None

    def _tracker(self) -> Any:
        return run_tracker(self._ld_client, self._run_id, self._info)
