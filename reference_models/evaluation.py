"""What the scorer needs to know about a model: accuracies and the statistics the attacks use.

Besides the forget set's, the statistic is kept for the test set (the
population attack's non-members, and the control of collateral privacy) and
for a fixed sample of the retain set, as large as the forget set: the first
retain examples, whose order the split's seed already shuffled.
"""

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn

from reference_models.datasets import BenchmarkData
from reference_models.tensors import LabelledTensors
from scoring.confidences import logit_scaled_confidence

_EVAL_BATCH = 1024


@dataclass(frozen=True)
class ModelOutputs:
    retain_accuracy: float
    test_accuracy: float
    forget_accuracy: float
    forget_statistic: np.ndarray  # float64 [E], logit-scaled confidence per forget example
    test_statistic: np.ndarray  # float64 [T], the same per test example (for the population attack)
    retain_statistic: np.ndarray  # float64 [min(E, R)], the same on the retain sample (collateral privacy)

    def to_row(self) -> dict:
        """Plain values for a Parquet row or JSON."""
        return {
            "retain_accuracy": self.retain_accuracy,
            "test_accuracy": self.test_accuracy,
            "forget_accuracy": self.forget_accuracy,
            "forget_statistic": self.forget_statistic.tolist(),
            "test_statistic": self.test_statistic.tolist(),
            "retain_statistic": self.retain_statistic.tolist(),
        }


@dataclass(frozen=True)
class PopulationOutputs:
    """ModelOutputs of N models of one kind (unlearned, retrained, ...), stacked."""

    retain_accuracy: np.ndarray  # [N]
    test_accuracy: np.ndarray  # [N]
    forget_accuracy: np.ndarray  # [N]
    forget_statistic: np.ndarray  # float64 [N, E]
    test_statistic: np.ndarray  # float64 [N, T]
    retain_statistic: np.ndarray  # float64 [N, min(E, R)]

    @classmethod
    def from_rows(cls, rows: list) -> "PopulationOutputs":
        """Stack rows: dicts or objects with one attribute per field."""
        def column(name: str) -> np.ndarray:
            return np.array([row[name] if isinstance(row, dict) else getattr(row, name) for row in rows], dtype=np.float64)

        return cls(*(column(field.name) for field in fields(cls)))

    def head(self, n: int) -> "PopulationOutputs":
        """The first n models."""
        return PopulationOutputs(*(getattr(self, field.name)[:n] for field in fields(self)))

    def __len__(self) -> int:
        return len(self.retain_accuracy)


@torch.no_grad()
def predict_logits(model: nn.Module, data: LabelledTensors) -> np.ndarray:
    """Logits in float32 (never autocast) on the model's device, returned on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    chunks = [model(data.images[i : i + _EVAL_BATCH].to(device)).cpu() for i in range(0, len(data), _EVAL_BATCH)]
    return torch.cat(chunks).double().numpy()


def accuracy(logits: np.ndarray, labels: torch.Tensor) -> float:
    return float((logits.argmax(axis=1) == labels.numpy()).mean())


def evaluate(model: nn.Module, data: BenchmarkData) -> ModelOutputs:
    """Accuracies on retain, test and forget, and the statistic the attacks use on each."""
    forget_logits = predict_logits(model, data.forget)
    test_logits = predict_logits(model, data.test)
    retain_logits = predict_logits(model, data.retain)
    sample = min(len(data.forget), len(data.retain))
    return ModelOutputs(
        retain_accuracy=accuracy(retain_logits, data.retain.labels),
        test_accuracy=accuracy(test_logits, data.test.labels),
        forget_accuracy=accuracy(forget_logits, data.forget.labels),
        forget_statistic=logit_scaled_confidence(forget_logits, data.forget.labels.numpy()),
        test_statistic=logit_scaled_confidence(test_logits, data.test.labels.numpy()),
        retain_statistic=logit_scaled_confidence(retain_logits[:sample], data.retain.labels[:sample].numpy()),
    )
