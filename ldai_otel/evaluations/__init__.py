"""Online evaluations: the AI Config's judges on a run's text, and evaluation results mapped from spans."""
