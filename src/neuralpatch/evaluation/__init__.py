"""Evaluation: methods (the synthesis with each prior, the baselines alone) run on a fixed evaluation set,
scored by neuralpatch.metrics, tabled and aggregated over Hydra multiruns. Uses synthesis, training and metrics."""

from neuralpatch.evaluation.multirun import AggregateCallback, aggregate
from neuralpatch.evaluation.run import build_eval_set, evaluate
from neuralpatch.evaluation.methods import NeuralPatchSynthesis, PriorOnly

__all__ = ["AggregateCallback", "NeuralPatchSynthesis", "PriorOnly", "aggregate", "build_eval_set", "evaluate"]
