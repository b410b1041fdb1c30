"""Online evaluations: the AI Config's judges on a run's text, and evaluation results mapped from spans.

Judges run in the processor only (the live source, which holds the run's text);
mapped ``gen_ai.evaluation.result`` events are sent by the processor, ``inspect``
and ``serve`` alike (docs/design.md, "Layout"; docs/evaluations.md).
"""
