"""The run model: span facts, run identity and roles, segments, graph specs, parent chains.

Data types and rules every source shares (the processor, ``inspect`` and ``serve``),
importing no other folder of the package (docs/design.md, "Layout").
"""
