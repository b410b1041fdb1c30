"""Markers of the Collector tests."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_spool: needs serve's durable spool (--state-dir); fails, with a message, where serve lacks it",
    )
