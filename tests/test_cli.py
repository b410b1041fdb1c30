"""The console script, run as a user would."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

import ldai_otel


def test_demo_runs_offline_and_reports_every_run():
    result = subprocess.run(
        [sys.executable, "-m", "ldai_otel.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "OK: every run's events arrived at the sink." in out
    assert out.count("run: ") == 6  # five AI Config runs (one judged) and one agent-graph run
    assert "  path         triage-agent -> billing-specialist\n" in out
    assert "  node billing-specialist  tokens 490, tool calls lookup_invoice, success\n" in out
    assert "tool calls   get_weather" in out
    assert re.search(r"first token  \d+ ms", out)
    assert "outcome      error" in out
    assert "tokens       input 120, output 48, total 168" in out
    # The judged run: its judge's score on its own runId, its tokens without the judge's call.
    judged = out.split("run: judged chat (its judge scores what the run said)\n", 1)[1].split("\n\n", 1)[0]
    assert "  config       support-chat-judged  (variation concise-judged)\n" in judged
    assert "  tokens       input 120, output 48, total 168\n" in judged
    assert "  outcome      success\n" in judged
    assert "  judge        $ld:ai:judge:relevance 0.9  (judgeConfigKey relevance-judge, this run's runId)\n" in judged
    assert judged.endswith(
        "  judge's own  tokens 119, tracked by ldai under relevance-judge (a runId of its own), not in this run"
    )
    assert out.count("$ld:ai:judge:") == 1
    run_ids = re.findall(r"runId        ([0-9a-f-]{36})", out)
    trace_ids = re.findall(r"trace id     ([0-9a-f]{32})", out)
    assert [r.replace("-", "") for r in run_ids] == trace_ids


# --- --version, -v, usage errors, help ----------------------------------------------------------

VERBS = ("demo", "inspect", "serve")


def ldai_otel_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The installed console script (its entry point), as a user runs it."""
    script = shutil.which("ldai-otel", path=str(Path(sys.executable).parent))
    assert script, "the ldai-otel console script is not installed next to " + sys.executable
    return subprocess.run(
        [script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "1000", **(env or {})},
    )


def test_version_prints_the_packages_single_sourced_version():
    result = ldai_otel_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ldai-otel %s\n" % ldai_otel.__version__
    assert ldai_otel.__version__ == metadata.version("ldai-otel")


@pytest.mark.parametrize("position", ["before the verb", "after the verb", "absent"])
def test_verbose_goes_before_or_after_the_verb_and_turns_on_ldai_otels_debug_output_only(sink, tmp_path, position):
    # serve, because its dependencies log at DEBUG (asyncio's event loop, the LaunchDarkly SDK):
    # -v must not bring their output.
    flags = {"before the verb": (["-v"], []), "after the verb": ([], ["-v"]), "absent": ([], [])}[position]
    argv = [sys.executable, "-m", "ldai_otel.cli", *flags[0], "serve", "--grpc", "127.0.0.1:0"]
    argv += ["--http", "127.0.0.1:0", "--flush-interval", "0.2", *flags[1]]
    env = {**os.environ, "LAUNCHDARKLY_SDK_KEY": "sdk-ldai-otel-test", "LAUNCHDARKLY_EVENTS_URI": sink.uri}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert "listening on" in proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    debug = [line for line in stderr.splitlines() if line.startswith("DEBUG:")]
    if position == "absent":
        assert debug == [], stderr
        return
    assert "DEBUG:ldai_otel.cli:ldai-otel %s on Python" % ldai_otel.__version__ in stderr
    assert [line for line in debug if not line.startswith("DEBUG:ldai_otel")] == [], stderr


@pytest.mark.parametrize("verb", VERBS)
def test_a_bad_flag_after_a_verb_is_reported_with_that_verbs_usage(verb, tmp_path):
    args = [verb, str(tmp_path / "spans.jsonl")] if verb == "inspect" else [verb]
    result = ldai_otel_cli(*args, "--no-such-flag")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ldai-otel %s [-h]" % verb), result.stderr
    assert "ldai-otel %s: error: unrecognized arguments: --no-such-flag" % verb in result.stderr
    # A bad value is the verb's error too; an unknown flag before the verb is the top level's.
    if verb == "serve":
        bad_value = ldai_otel_cli("serve", "--max-traces", "0")
        assert bad_value.returncode == 2 and bad_value.stderr.startswith("usage: ldai-otel serve [-h]")
        assert "ldai-otel serve: error: argument --max-traces: must be positive" in bad_value.stderr
    top = ldai_otel_cli("--no-such-flag", *args)
    assert top.returncode == 2 and top.stderr.startswith("usage: ldai-otel [-h] [--version] [-v]"), top.stderr


def option_lines(help_text: str) -> dict[str, str]:
    """Each option of a --help to its help text (one line: COLUMNS is wide; argparse puts the text
    of an option with a long metavar on the next line)."""
    options = {}
    lines = help_text.splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"  (-\S+(?:, --\S+)?)(?: [A-Z_:]+)?(?:\s{2,}(.*))?$", line)
        if match:
            text = match.group(2) or lines[number + 1].strip()
            options[match.group(1).split(", ")[-1]] = text
    return options


@pytest.mark.parametrize("verb", VERBS)
def test_every_verbs_help_lists_verbose_shows_no_empty_default_and_serve_names_each_flags_variable(verb):
    result = ldai_otel_cli(verb, "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith("usage: ldai-otel %s [-h]" % verb)
    options = option_lines(text)
    assert options["--verbose"] == "log ldai-otel's debug output (its own loggers only)", text
    assert options["--help"]
    # No default rendered empty ("(default ; $VAR)", "default: )"), no placeholder left unformatted.
    assert not re.search(r"default:?\s*[;)]|%\(|\$\s", text), text
    if verb != "serve":
        return
    from ldai_otel.serve.command import OPTIONS

    for option in OPTIONS:
        assert re.search(r"\(default: [^;)\s][^;]*; env %s\)$" % option.env, options[option.flag]), option.flag
    extractor = "(repeatable; default: none; env LDAI_OTEL_SERVE_EXTRACTOR, comma-separated)"
    assert options["--extractor"].endswith(extractor)
    # Every flag but -h and -v (which are the command line's, not serve's) names its variable.
    for flag, help_text in options.items():
        assert flag in ("--help", "--verbose") or "env LDAI_OTEL_SERVE_" in help_text, flag
    assert "(default: none; env LDAI_OTEL_SERVE_TLS_CERT)" in options["--tls-cert"]


def test_top_level_help_lists_version_verbose_and_every_verb():
    result = ldai_otel_cli("--help")
    assert result.returncode == 0, result.stderr
    options = option_lines(result.stdout)
    assert set(options) == {"--help", "--version", "--verbose"}, result.stdout
    for verb in VERBS:
        assert re.search(r"^    %s\s{2,}\S" % verb, result.stdout, re.M), verb


# --- inspect: a file without OTLP traces --------------------------------------------------------


def otlp_logs_line() -> str:
    """One OTLP JSON line of logs (not traces), from the SDK's logs pipeline and the OTLP encoder."""
    import logging

    from google.protobuf.json_format import MessageToJson
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs import export as logs_export

    memory_class = getattr(logs_export, "InMemoryLogRecordExporter", None) or logs_export.InMemoryLogExporter
    memory = memory_class()
    provider = LoggerProvider()
    provider.add_log_record_processor(logs_export.SimpleLogRecordProcessor(memory))
    handler = LoggingHandler(logger_provider=provider)
    app_logger = logging.getLogger("ldai-otel-test-app")
    app_logger.addHandler(handler)
    try:
        app_logger.warning("an application log line")
    finally:
        app_logger.removeHandler(handler)
        provider.shutdown()
    line = MessageToJson(encode_logs(memory.get_finished_logs()), indent=None)
    assert '"resourceLogs"' in line and "an application log line" in line
    return line + "\n"


@pytest.mark.parametrize(
    "content, found",
    [
        ('{"foo": 1}\n', "1 JSON document(s) that are not OTLP (top-level keys: foo)"),
        ("OTLP logs", "1 OTLP logs document(s)"),
        ("", "nothing (the file is empty)"),
        ("spans, but not JSON\n", "1 line(s) that are not OTLP JSON"),
        ('{"resourceSpans": []}\n', "1 OTLP traces document(s) without spans"),
    ],
    ids=["json-not-otlp", "otlp-logs", "empty", "not-json", "traces-without-spans"],
)
def test_inspect_on_a_file_without_otlp_traces_says_what_it_holds_and_exits_1(tmp_path, content, found):
    path = tmp_path / "input.json"
    path.write_text(otlp_logs_line() if content == "OTLP logs" else content)
    result = ldai_otel_cli("inspect", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ldai-otel inspect: %s holds no OTLP traces: it has %s\n" % (path, found) in result.stderr


def test_inspect_skips_other_signals_in_a_traces_file_and_says_so(tmp_path):
    from test_inspect import recorded_lines_for

    path = tmp_path / "mixed.jsonl"
    path.write_text(otlp_logs_line() + recorded_lines_for(tmp_path) + '{"foo": 1}\n')
    result = ldai_otel_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    assert "run " in result.stdout and "config file-config" in result.stdout
    assert (
        "ldai-otel inspect: skipped what is not OTLP traces: 1 OTLP logs document(s), "
        "1 JSON document(s) that are not OTLP (top-level keys: foo)\n"
    ) in result.stderr


# --- serve: ports first, no diagnostics ---------------------------------------------------------


@pytest.mark.parametrize("listener", ["grpc", "http"])
def test_serve_that_cannot_bind_a_port_exits_2_and_never_talks_to_launchdarkly(sink, listener):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        addresses = {"grpc": "127.0.0.1:0", "http": "127.0.0.1:0"}
        addresses[listener] = "127.0.0.1:%d" % taken.getsockname()[1]
        result = ldai_otel_cli(
            "serve",
            "--grpc",
            addresses["grpc"],
            "--http",
            addresses["http"],
            env={"LAUNCHDARKLY_SDK_KEY": "sdk-ldai-otel-test", "LAUNCHDARKLY_EVENTS_URI": sink.uri},
            timeout=120,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ldai-otel serve: cannot listen: " in result.stderr
    assert "listening on" not in result.stdout and "Traceback" not in result.stderr
    # serve has exited: what it posted has arrived. A post of the test's own, after it, is the only one.
    request = urllib.request.Request(sink.uri + "/bulk", data=b"[]", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    assert sink.wait_for_posts(1)
    assert sink.paths == ["/bulk"]


def test_serve_that_cannot_bind_keeps_its_spool_and_lets_the_directory_go(sink, tmp_path):
    # A state directory from an earlier serve (a file in it) and a port in use: serve exits 2,
    # delivers nothing (it has no client), keeps every file and releases its lock.
    state = tmp_path / "state"
    state.mkdir()
    (state / "earlier").write_bytes(b"kept")
    env = {"LAUNCHDARKLY_SDK_KEY": "sdk-ldai-otel-test", "LAUNCHDARKLY_EVENTS_URI": sink.uri}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = "127.0.0.1:%d" % taken.getsockname()[1]
        for _ in range(2):  # the second start would be refused ("in use") if the lock were kept
            result = ldai_otel_cli(
                "serve", "--grpc", busy, "--http", "off", "--state-dir", str(state), env=env, timeout=120
            )
            assert result.returncode == 2, result.stdout + result.stderr
            assert "ldai-otel serve: cannot listen: " in result.stderr
            assert "in use by another" not in result.stderr and "Traceback" not in result.stderr
    assert (state / "earlier").read_bytes() == b"kept"


def test_serve_sends_its_runs_events_and_no_diagnostic_events(sink, tmp_path):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from serve_support import export, start_serve
    from test_serve import a_run

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "app-a"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        with start_serve(sink, tmp_path, "--decision-wait", "0.3") as serve:
            run_id = a_run(provider)
            export(serve.http_exporter(), memory.get_finished_spans())
            assert sink.wait_for_event(lambda e: e.get("key") == "$ld:ai:generation:success", 30)
            assert serve.terminate() == 0
    finally:
        provider.shutdown()
    assert len(sink.ai_events(run_id)) == 6
    assert sink.paths and all(path.rstrip("/").endswith("/bulk") for path in sink.paths), sink.paths


def test_serves_extractor_variable_is_read_and_the_flag_wins_over_it(sink):
    env = {
        "LAUNCHDARKLY_SDK_KEY": "sdk-ldai-otel-test",
        "LAUNCHDARKLY_EVENTS_URI": sink.uri,
        "LDAI_OTEL_SERVE_EXTRACTOR": "no_such_module_a:extract, no_such_module_b:extract",
    }
    listeners = ("--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0")
    from_variable = ldai_otel_cli("serve", *listeners, env=env)
    assert from_variable.returncode == 2
    assert "ldai-otel serve: cannot load extractor no_such_module_a:extract" in from_variable.stderr
    from_flag = ldai_otel_cli("serve", *listeners, "--extractor", "no_such_module_c:extract", env=env)
    assert from_flag.returncode == 2
    assert "cannot load extractor no_such_module_c:extract" in from_flag.stderr
    assert "no_such_module_a" not in from_flag.stderr
