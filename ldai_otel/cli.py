"""The ``ldai-otel`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from ldai_otel._demo import run_demo

    return run_demo(sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each verb is a subcommand."""
    parser = argparse.ArgumentParser(
        prog="ldai-otel",
        description="Turn OpenTelemetry GenAI spans into LaunchDarkly AI Config metrics.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log ldai-otel's debug output")
    verbs = parser.add_subparsers(dest="verb", required=True)
    demo = verbs.add_parser("demo", help="run a few AI Config runs offline and report the events sent")
    demo.set_defaults(func=_demo)
    from ldai_otel._inspect import add_parser as add_inspect_parser

    add_inspect_parser(verbs)
    from ldai_otel._serve import add_parser as add_serve_parser

    add_serve_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ldai-otel`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
    if not args.verbose and args.verb != "serve":
        # The offline demo's LaunchDarkly client has no account to talk to.
        logging.getLogger("ldclient").setLevel(logging.ERROR)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
