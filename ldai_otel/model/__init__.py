"""The run model: span facts, run identity and roles, segments, graph specs (docs/design.md)."""
