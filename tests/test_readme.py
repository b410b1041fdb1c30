"""The README's Python code runs as written, offline, and sends what it says.

Every ```python block of README.md, and every block of docs/getting-started.md
marked ``<!-- runnable -->``, runs in a fresh interpreter (this one's
environment: nothing is installed at run time). A README block preceded by
``<!-- fragment: why -->`` is a piece of a larger program (it needs real
keys); it must still compile. The Quick start's output is asserted line by
line: the runs and token values that arrived at the loopback sink.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "getting-started.md"

_BLOCK = re.compile(r"(?:^(<!--[^\n]*-->)\n)?^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(path: Path) -> list[tuple[str, str]]:
    """(marker comment or "", code) of every ```python block in ``path``."""
    return [(m.group(1) or "", m.group(2)) for m in _BLOCK.finditer(path.read_text(encoding="utf-8"))]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LAUNCHDARKLY_", "LDAI_OTEL_"))}
    env["OPENAI_API_KEY"] = "sk-not-used"  # nothing may reach a real provider
    return subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def _readme_runnable() -> list[str]:
    return [code for marker, code in _blocks(README) if not marker.startswith("<!-- fragment")]


def _quick_start() -> str:
    found = [code for code in _readme_runnable() if "OpenAIStub" in code]
    assert len(found) == 1, "the README has one Quick start"
    return found[0]


def test_readme_has_runnable_blocks_and_fragments_compile():
    blocks = _blocks(README)
    assert _readme_runnable(), "no runnable Python block in the README"
    for marker, code in blocks:
        if marker.startswith("<!-- fragment"):
            compile(code, "README fragment", "exec")


def _assert_quick_start_output(stdout: str) -> None:
    lines = stdout.splitlines()
    assert re.fullmatch(r"runId [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", lines[0]), stdout
    assert lines[1] == "answer Hello from the stub."
    events = lines[2:]
    assert re.fullmatch(r"\$ld:ai:duration:total \d+", events[0]), stdout
    # Exactly one run's events: one of each, the stub's usage 11/7/18, success.
    assert sorted(events[1:]) == [
        "$ld:ai:generation:success 1",
        "$ld:ai:tokens:input 11",
        "$ld:ai:tokens:output 7",
        "$ld:ai:tokens:total 18",
    ], stdout


def _normalized(output: str) -> list[str]:
    """Output lines with the parts that differ from run to run (runId, duration) blanked."""
    output = re.sub(r"^runId \S+$", "runId <uuid>", output, flags=re.MULTILINE)
    return re.sub(r"^(\$ld:ai:duration:total) \d+$", r"\1 <ms>", output, flags=re.MULTILINE).splitlines()


def _documented_output() -> str:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"^Output \(the runId[^\n]*\n\n```\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert found, "the README shows the Quick start's output"
    return found.group(1)


def test_quick_start_runs_as_written(tmp_path):
    done = _run(_quick_start(), tmp_path)
    assert done.returncode == 0, done.stderr
    _assert_quick_start_output(done.stdout)
    _assert_quick_start_output(_documented_output())
    assert _normalized(done.stdout) == _normalized(_documented_output())
    print(done.stdout)


def test_quick_start_guard_sends_nothing_for_a_missing_config(tmp_path):
    """The flag is not found: the default (disabled) comes back, no model is called, no event sent."""
    code = _quick_start()
    assert 'add_ai_config(flags, "chat-config"' in code
    code = code.replace('add_ai_config(flags, "chat-config"', 'add_ai_config(flags, "some-other-config"')
    done = _run(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["answer Sorry, chat is unavailable right now."], done.stdout


@pytest.mark.parametrize("index", range(len(_readme_runnable())))
def test_readme_block_runs(index, tmp_path):
    done = _run(_readme_runnable()[index], tmp_path)
    assert done.returncode == 0, done.stderr


def _getting_started_runnable() -> list[str]:
    return [code for marker, code in _blocks(GETTING_STARTED) if marker == "<!-- runnable -->"]


def test_getting_started_has_runnable_blocks():
    assert _getting_started_runnable()


@pytest.mark.parametrize("index", range(len(_getting_started_runnable())))
def test_getting_started_block_runs(index, tmp_path):
    done = _run(_getting_started_runnable()[index], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "FAILED" not in done.stdout, done.stdout
