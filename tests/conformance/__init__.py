"""Conformance suite: real GenAI instrumentations against a loopback OpenAI stub (see conftest.py)."""
