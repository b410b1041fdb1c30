"""Packaging: ``pip install 'ldai-otel[serve]'`` brings what serve imports; the processor alone none of it.

Read from the installed distribution's metadata (``importlib.metadata``), so
the test sees what pip sees, and from where each module serve imports was
installed from.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

# Every third-party module the serve code paths import, and the distribution that provides it.
SERVE_MODULES = {
    "grpc": "grpcio",
    "grpc_health.v1.health": "grpcio-health-checking",
    "aiohttp": "aiohttp",
    "prometheus_client": "prometheus-client",
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2": "opentelemetry-proto",
    "google.rpc.status_pb2": "googleapis-common-protos",
}
BASE = {"opentelemetry-api", "opentelemetry-sdk", "launchdarkly-server-sdk", "launchdarkly-server-sdk-ai"}


def requirements(extra: str | None) -> set[str]:
    names = set()
    for text in metadata.requires("ldai-otel") or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if extra is None and marker is None:
            names.add(requirement.name.lower())
        elif extra is not None and marker is not None and marker.evaluate({"extra": extra}):
            names.add(requirement.name.lower())
    return names


def test_the_serve_extra_is_exactly_what_serve_imports_and_the_base_has_none_of_it():
    serve = requirements("serve")
    assert serve == set(SERVE_MODULES.values())
    assert requirements(None) == BASE
    assert not serve & BASE
    for module, distribution in SERVE_MODULES.items():
        origin = Path(importlib.util.find_spec(module).origin).resolve()
        files = {Path(f.locate()).resolve() for f in metadata.files(distribution) or []}
        assert origin in files, (module, distribution)


def test_a_processor_user_imports_none_of_serves_dependencies():
    code = (
        "import sys, ldai_otel\n"
        "from ldai_otel import LDAISpanProcessor, ai_run\n"
        "import ldai_otel.cli\n"
        "print(sorted(m for m in ('grpc', 'grpc_health', 'aiohttp', 'prometheus_client') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"
