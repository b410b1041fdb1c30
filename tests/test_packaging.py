"""Packaging: the sdist and the wheel a release would upload, built from a checkout with leftovers in it.

``python -m build`` (sdist, then the wheel from the sdist, as a release is built)
runs on a copy of the source tree to which a developer's leftovers are added:
``tests/node/node_modules``, ``.hypothesis``, a virtual environment, tool caches,
byte code, old builds. The checks: the exact file list of each (nothing but the
include list's files), LICENSE and NOTICE in both, ``py.typed``, the entry points,
the metadata PyPI shows (version from ``ldai_otel/_version.py``, the license
expression, classifiers, Project-URLs, only user extras), and ``twine check --strict``.

The build runs without isolation, with the ``hatchling`` of the test environment
(no network in tests); ``scripts/test`` also builds isolated, as a release does.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

import pytest

import ldai_otel

ROOT = Path(__file__).resolve().parent.parent
SDIST_DIRS = ("ldai_otel", "tests", "docs", "examples", "benchmarks", "scripts")
SDIST_FILES = ("README.md", "CHANGELOG.md", "pyproject.toml", "LICENSE", "NOTICE")
JUNK_NAMES = (
    "node_modules",
    ".hypothesis",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".git",
    "build",
    "dist",
)
LEFTOVERS = (
    "tests/node/node_modules/left-pad/index.js",
    "tests/node/node_modules/left-pad/package.json",
    ".hypothesis/examples/0123abcd/4567ef",
    "tests/.hypothesis/unicode_data/14.0.0/charmap.json.gz",
    ".venv-x/bin/python",
    ".venv-x/lib/python3.11/site-packages/stray.py",
    "ldai_otel/__pycache__/cli.cpython-311.pyc",
    "tests/__pycache__/conftest.cpython-311-pytest-8.4.0.pyc",
    "ldai_otel/stray.pyc",
    ".mypy_cache/3.10/ldai_otel/cli.data.json",
    ".ruff_cache/0.17.6/123456",
    ".pytest_cache/v/cache/nodeids",
    "build/lib/ldai_otel/cli.py",
    "dist/ldai_otel-0.0.1.tar.gz",
    "ldai_otel.egg-info/PKG-INFO",
)
CLASSIFIERS = [
    "Development Status :: 4 - Beta",
    "Framework :: OpenTelemetry",
    "Intended Audience :: Developers",
    "Operating System :: OS Independent",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3 :: Only",
    "Programming Language :: Python :: 3.10",
    "Programming Language :: Python :: 3.11",
    "Programming Language :: Python :: 3.12",
    "Programming Language :: Python :: 3.13",
    "Topic :: System :: Monitoring",
    "Typing :: Typed",
]
PROJECT_URLS = {
    "Homepage": "https://github.com/ldai-otel/ldai-otel",
    "Documentation": "https://ldai-otel.github.io/ldai-otel/",
    "Source": "https://github.com/ldai-otel/ldai-otel",
    "Issues": "https://github.com/ldai-otel/ldai-otel/issues",
    "Changelog": "https://github.com/ldai-otel/ldai-otel/blob/main/CHANGELOG.md",
}
BASE_REQUIREMENTS = {
    "opentelemetry-api~=1.30",
    "opentelemetry-sdk~=1.30",
    "launchdarkly-server-sdk<10,>=9.11",
    "launchdarkly-server-sdk-ai<2,>=1.2",
}


def _junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith(".venv") or name.endswith((".egg-info", ".pyc", ".pyo"))


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


class Built:
    """The source copy, and the sdist and wheel built from it."""

    def __init__(self, source: set[str], sdist: Path, wheel: Path):
        self.source = source
        self.sdist = sdist
        self.wheel = wheel
        with tarfile.open(sdist) as archive:
            prefix = "ldai_otel-%s/" % ldai_otel.__version__
            names = [m.name for m in archive.getmembers() if m.isfile()]
            assert all(n.startswith(prefix) for n in names), names
            self.sdist_files = {n[len(prefix) :] for n in names}
            self.sdist_text = {
                n: archive.extractfile(prefix + n).read().decode("utf-8")  # type: ignore[union-attr]
                for n in ("PKG-INFO", "LICENSE", "NOTICE")
            }
        with zipfile.ZipFile(wheel) as archive:
            self.wheel_files = set(archive.namelist())
            info = "ldai_otel-%s.dist-info/" % ldai_otel.__version__
            self.dist_info = info
            self.wheel_text = {
                n: archive.read(info + n).decode("utf-8")
                for n in ("METADATA", "entry_points.txt", "licenses/LICENSE", "licenses/NOTICE")
            }


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    work = tmp_path_factory.mktemp("packaging")
    checkout = work / "ldai-otel"
    shutil.copytree(ROOT, checkout, ignore=lambda directory, names: [n for n in names if _junk(n)])
    source = _files(checkout)
    for leftover in LEFTOVERS:
        path = checkout / leftover
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a developer's leftover\n")
    out = work / "dist"
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(checkout)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Built(source, sdist, wheel)


def metadata_of(text: str) -> Message:
    return email.message_from_string(text)


def test_the_sdist_holds_exactly_the_include_lists_files_and_none_of_the_leftovers(built):
    expected = {f for f in built.source if f.split("/", 1)[0] in SDIST_DIRS or f in SDIST_FILES}
    # hatchling adds PKG-INFO, and always keeps a checkout's .gitignore.
    expected |= {"PKG-INFO"} | ({".gitignore"} & built.source)
    assert built.sdist_files == expected
    for leftover in LEFTOVERS:
        assert leftover not in built.sdist_files
    assert not [f for f in built.sdist_files if any(_junk(part) for part in f.split("/"))]
    for needed in ("LICENSE", "NOTICE", "ldai_otel/py.typed", "tests/conftest.py", "tests/floors.txt", "scripts/test"):
        assert needed in built.sdist_files, needed
    assert ".ci/run" not in built.sdist_files  # CI's entry point is the repository's, not the release's
    print("sdist: %d files; wheel: %d files" % (len(built.sdist_files), len(built.wheel_files)))


def test_the_wheel_holds_the_package_its_licenses_and_entry_points(built):
    package = {f for f in built.source if f.startswith("ldai_otel/")}
    info = built.dist_info
    expected = package | {
        info + name
        for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE", "licenses/NOTICE")
    }
    assert built.wheel_files == expected
    assert "ldai_otel/py.typed" in built.wheel_files and "ldai_otel/_version.py" in built.wheel_files
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    assert built.wheel_text["licenses/LICENSE"] == built.sdist_text["LICENSE"] == license_text
    assert "Copyright 2026 The ldai-otel authors" in built.wheel_text["licenses/NOTICE"]
    assert built.wheel_text["licenses/NOTICE"] == built.sdist_text["NOTICE"]
    entry_points = built.wheel_text["entry_points.txt"]
    assert "[console_scripts]\nldai-otel = ldai_otel.cli:main\n" in entry_points
    assert "[opentelemetry_post_instrument]\nldai_otel = ldai_otel.autoinstrument:post_instrument\n" in entry_points
    assert "ldai_parentbased_traceidratio = ldai_otel.sampler:parentbased_traceidratio" in entry_points


@pytest.mark.parametrize("artifact", ["wheel", "sdist"])
def test_the_metadata_pypi_shows(built, artifact):
    text = built.wheel_text["METADATA"] if artifact == "wheel" else built.sdist_text["PKG-INFO"]
    meta = metadata_of(text)
    assert tuple(int(p) for p in meta["Metadata-Version"].split(".")) >= (2, 4)  # License-Expression
    assert meta["Name"] == "ldai-otel"
    assert meta["Version"] == ldai_otel.__version__
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE", "NOTICE"]
    assert meta["License"] is None  # the legacy free-text field: the expression replaces it
    assert meta["Author"] == "The ldai-otel authors"
    assert meta.get_all("Classifier") == CLASSIFIERS
    assert not [c for c in meta.get_all("Classifier") if c.startswith("License ::")]  # PEP 639
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert urls == PROJECT_URLS
    assert meta["Description-Content-Type"] == "text/markdown"
    # Users' extras only: the contributor tools are dependency groups, which metadata does not carry.
    assert sorted(meta.get_all("Provides-Extra")) == ["inspect", "judges", "serve"]
    requirements = meta.get_all("Requires-Dist")
    assert {r for r in requirements if "extra ==" not in r} == BASE_REQUIREMENTS
    for tool in ("pytest", "ruff", "mypy", "hypothesis", "openai", "twine"):
        assert not [r for r in requirements if r.startswith(tool)], tool


def test_twine_check_strict_passes_on_both(built):
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.sdist), str(built.wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_version_is_written_once():
    # The build reads ldai_otel/_version.py; pyproject.toml has no version of its own.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert '[tool.hatch.version]\npath = "ldai_otel/_version.py"' in pyproject
    assert "\nversion =" not in pyproject
    assert (ROOT / "ldai_otel" / "_version.py").read_text().count(ldai_otel.__version__) == 1
