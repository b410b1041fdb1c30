"""The ``ldai-otel`` command line."""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from collections.abc import Sequence
from typing import Any

from ldai_otel._version import __version__

VERBOSE_HELP = "log ldai-otel's debug output (its own loggers only)"
_PACKAGE_LOGGER = "ldai_otel"
# Named, not __name__: run as `python -m ldai_otel.cli`, __name__ is "__main__".
_logger = logging.getLogger(_PACKAGE_LOGGER + ".cli")


class VerbParser(argparse.ArgumentParser):
    """A subcommand's parser: arguments it does not know are its error, shown with its usage.

    argparse hands a subcommand's unknown arguments back to the top-level parser,
    which reports them with the top-level usage; the subcommand's usage is the helpful one.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error("unrecognized arguments: %s" % " ".join(extras))
        return parsed, extras


def _demo(args: argparse.Namespace) -> int:
    from ldai_otel.demo.command import run_demo

    return run_demo(sys.stdout)


def _add_verbose(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help=VERBOSE_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each verb is a subcommand. ``-v`` goes before or after the verb."""
    parser = argparse.ArgumentParser(
        prog="ldai-otel",
        description="Turn OpenTelemetry GenAI spans into LaunchDarkly AI Config metrics.",
    )
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    _add_verbose(parser, False)
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=VerbParser)
    demo = verbs.add_parser("demo", help="run a few AI Config runs offline and report the events sent")
    demo.set_defaults(func=_demo)
    from ldai_otel.inspect.command import add_parser as add_inspect_parser

    add_inspect_parser(verbs)
    from ldai_otel.serve.command import add_parser as add_serve_parser

    add_serve_parser(verbs)
    for verb in verbs.choices.values():
        # SUPPRESS: without -v after the verb, the verb's parser leaves `verbose` as the
        # top-level parser set it (a default here would undo `ldai-otel -v serve`).
        _add_verbose(verb, argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ldai-otel`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.verbose:
        # ldai-otel's loggers only: its dependencies' debug output (grpc, aiohttp,
        # the LaunchDarkly SDK) would bury it.
        logging.getLogger(_PACKAGE_LOGGER).setLevel(logging.DEBUG)
        _logger.debug("ldai-otel %s on Python %s: %s", __version__, platform.python_version(), args.verb)
    if args.verb != "serve":
        # The offline demo's and inspect's LaunchDarkly clients have no account to talk to.
        logging.getLogger("ldclient").setLevel(logging.ERROR)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
