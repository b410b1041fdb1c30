"""The package version, in one place: the build reads it, ``ldai_otel.__version__`` re-exports it."""

__version__ = "0.2.0.dev0"
