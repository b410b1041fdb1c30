"""Builds the conformance environments and runs every combination; ``scripts/test`` calls it.

Usage::

    python3 tests/conformance/run.py [--only NAME ...] [--junit-dir DIR] [--count-also FILE.xml]

Each environment of ``combos.py`` is a virtual environment under
``.venv-conformance/<name>``, built from the pins there plus this package
(editable, with its ``inspect`` extra) and reused while its pins and
``pyproject.toml`` are unchanged. Each combination is one pytest process with
``LDAI_OTEL_CONFORMANCE=<name>``, two at a time. A combination that fails,
errors, skips a test or runs none fails the run. Standard library only.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from combos import COMBO_ENV, COMBOS, ENVIRONMENTS  # noqa: E402

VENV_ROOT = ROOT / ".venv-conformance"
STAMP = "ldai-otel-conformance.stamp"
TOOLING = ("pytest>=8", "opentelemetry-exporter-otlp-proto-common~=1.30")
"""Installed next to the pins: the test runner and the OTLP encoder the inspect cases use."""
PIP_TIMEOUT_S = 900
PYTEST_TIMEOUT_S = 600


def _stamp_for(environment: str) -> str:
    digest = hashlib.sha256()
    for item in ENVIRONMENTS[environment] + TOOLING:
        digest.update(item.encode() + b"\n")
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def ensure_environment(environment: str, python: str) -> tuple[Path, str]:
    """The environment's Python, building the venv when missing or stale.

    Returns:
        ``(python path, what was done)``.

    Raises:
        RuntimeError: pip failed (its output is in the message).
    """
    venv = VENV_ROOT / environment
    stamp = _stamp_for(environment)
    stamp_file = venv / STAMP
    venv_python = venv / "bin" / "python"
    if venv_python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return venv_python, "reused"
    if venv.exists():
        shutil.rmtree(venv)
    started = time.monotonic()
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    command = [
        str(venv_python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        *ENVIRONMENTS[environment],
        *TOOLING,
        "-e",
        str(ROOT) + "[inspect]",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    if result.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        raise RuntimeError("pip failed for %s:\n%s%s" % (environment, result.stdout, result.stderr))
    stamp_file.write_text(stamp)
    return venv_python, "built in %.0f s" % (time.monotonic() - started)


def count(junit: Path) -> dict[str, int]:
    """tests / failures / errors / skipped of a pytest JUnit XML report."""
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if not junit.exists():
        return totals
    root = ElementTree.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, 0))
    return totals


def run_combo(name: str, venv_python: Path, junit_dir: Path) -> tuple[str, int, str, dict[str, int], float]:
    """One pytest process for combination ``name``; returns (name, exit code, output, counts, seconds)."""
    junit = junit_dir / ("conformance-" + name.replace("+", "-and-") + ".xml")
    env = dict(os.environ)
    env[COMBO_ENV] = name
    started = time.monotonic()
    result = subprocess.run(
        [
            str(venv_python),
            "-m",
            "pytest",
            "tests/conformance",
            "-q",
            "-p",
            "no:cacheprovider",
            # The main suite's conftest is not this suite's: stop looking for conftests here.
            "--confcutdir",
            str(HERE),
            "--junitxml",
            str(junit),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=PYTEST_TIMEOUT_S,
    )
    return name, result.returncode, result.stdout + result.stderr, count(junit), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the conformance suite in its environments.")
    parser.add_argument("--only", nargs="*", choices=sorted(COMBOS), help="run only these combinations")
    parser.add_argument("--junit-dir", type=Path, help="where to keep the JUnit XML reports")
    parser.add_argument(
        "--count-also",
        type=Path,
        action="append",
        default=[],
        help="JUnit XML of other test runs to add to the final count",
    )
    parser.add_argument(
        "--python", default=os.environ.get("PYTHON", sys.executable), help="Python that creates the environments"
    )
    args = parser.parse_args(argv)
    names = args.only or list(COMBOS)
    junit_dir = args.junit_dir or Path(tempfile.mkdtemp(prefix="ldai-otel-conformance-"))
    junit_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    environments = sorted({COMBOS[n].environment for n in names})
    pythons: dict[str, Path] = {}
    failed_envs = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {pool.submit(ensure_environment, e, args.python): e for e in environments}
        for future in concurrent.futures.as_completed(futures):
            environment = futures[future]
            try:
                pythons[environment], how = future.result()
                print("conformance environment %s: %s" % (environment, how), flush=True)
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                failed_envs.append(environment)
                print("conformance environment %s: FAILED\n%s" % (environment, exc), flush=True)

    passed = failed = 0
    problems = []
    runnable = [n for n in names if COMBOS[n].environment in pythons]
    for name in names:
        if name not in runnable:
            problems.append(name + ": its environment could not be built")
            failed += 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_combo, n, pythons[COMBOS[n].environment], junit_dir) for n in runnable]
        for future in concurrent.futures.as_completed(futures):
            name, code, output, counts, seconds = future.result()
            bad = counts["failures"] + counts["errors"]
            ok = counts["tests"] - bad - counts["skipped"]
            passed += ok
            failed += bad + counts["skipped"]
            verdict = "ok"
            if code != 0 or bad:
                verdict = "FAILED (exit %d)" % code
            elif counts["skipped"]:
                verdict = "FAILED: %d skipped (nothing may be skipped)" % counts["skipped"]
            elif counts["tests"] == 0:
                verdict = "FAILED: no test ran"
            if verdict != "ok":
                problems.append(name)
                failed += 0 if bad or counts["skipped"] else 1
                print(output, flush=True)
            print(
                "conformance %-24s %-8s %3d passed, %d failed, %d skipped in %.1f s  %s"
                % (name, COMBOS[name].environment, ok, bad, counts["skipped"], seconds, verdict),
                flush=True,
            )

    print(
        "conformance: %d combination(s) in %.0f s%s"
        % (len(names), time.monotonic() - started, "; failed: " + ", ".join(problems) if problems else "")
    )
    print("conformance: %d passed, %d failed" % (passed, failed))
    if args.count_also:
        for path in args.count_also:
            counts = count(path)
            passed += counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
            failed += counts["failures"] + counts["errors"]
        print("all tests: %d passed, %d failed" % (passed, failed))
    return 1 if problems or failed_envs or failed else 0


if __name__ == "__main__":
    sys.exit(main())
