"""Markers and fixtures of the Collector tests."""

from __future__ import annotations

import pytest
from apps import Apps


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_spool: needs serve's durable spool (--state-dir); fails, with a message, where serve lacks it",
    )


@pytest.fixture
def make_apps():
    """Builds ``Apps`` exporting to a Collector; shuts them down after the test, failed or not."""
    made: list[Apps] = []

    def make(*args, **kwargs) -> Apps:
        made.append(Apps(*args, **kwargs))
        return made[-1]

    yield make
    for apps in made:
        apps.shutdown()
