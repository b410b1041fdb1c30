"""gunicorn configuration for the pre-fork exit test: LaunchDarkly's rule for forked workers."""

from __future__ import annotations

from typing import Any


def post_fork(server: Any, worker: Any) -> None:
    import exit_wsgi  # already imported by the master (--preload)

    exit_wsgi.ld_client.postfork()
