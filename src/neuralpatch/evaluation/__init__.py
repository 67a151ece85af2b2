"""Evaluation: methods (the synthesis with each prior, the baselines alone) run on a fixed evaluation set,
scored by neuralpatch.metrics and tabled; ``multirun`` aggregates a Hydra sweep's tables (``python -m
neuralpatch.evaluation.multirun DIR``). Uses synthesis, training and metrics."""

from neuralpatch.evaluation.methods import NeuralPatchSynthesis, PriorOnly
from neuralpatch.evaluation.run import build_eval_set, evaluate

__all__ = ["NeuralPatchSynthesis", "PriorOnly", "build_eval_set", "evaluate"]
