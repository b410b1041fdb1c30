"""Loading a user's extractor named on a command line (``--extractor module:function``).

``ldai-otel inspect`` and ``ldai-otel serve`` both read in-house dialects through
extractors given as ``module:function``; the processor takes the functions themselves
(its ``extractors`` argument). See :data:`~ldai_otel.model.observation.Extractor`.
"""

from __future__ import annotations

import importlib

from ldai_otel.model.observation import Extractor


def load_extractor(spec: str) -> Extractor:
    """The extractor ``spec`` names.

    Args:
        spec: ``module:function``, the module importable.

    Returns:
        The function (any callable the module holds under that name).

    Raises:
        ValueError: ``spec`` is not ``module:function``, or the module or function cannot be loaded.
    """
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError("--extractor wants module:function, got %r" % spec)
    try:
        module = importlib.import_module(module_name)
        extractor: Extractor = getattr(module, attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError("cannot load extractor %s: %s" % (spec, exc)) from exc
    return extractor
