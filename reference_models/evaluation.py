"""What the scorer needs to know about a model: accuracies and forget-set statistics."""

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

    def to_row(self) -> dict:
        """Plain values for a Parquet row or JSON."""
        return {
            "retain_accuracy": self.retain_accuracy,
            "test_accuracy": self.test_accuracy,
            "forget_accuracy": self.forget_accuracy,
            "forget_statistic": self.forget_statistic.tolist(),
            "test_statistic": self.test_statistic.tolist(),
        }


@dataclass(frozen=True)
class PopulationOutputs:
    """ModelOutputs of N models of one kind (unlearned, retrained, ...), stacked."""

    retain_accuracy: np.ndarray  # [N]
    test_accuracy: np.ndarray  # [N]
    forget_accuracy: np.ndarray  # [N]
    forget_statistic: np.ndarray  # float64 [N, E]
    test_statistic: np.ndarray  # float64 [N, T]

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
    """Accuracies on retain, test and forget, and the statistic the metric attacks."""
    forget_logits = predict_logits(model, data.forget)
    test_logits = predict_logits(model, data.test)
    return ModelOutputs(
        retain_accuracy=accuracy(predict_logits(model, data.retain), data.retain.labels),
        test_accuracy=accuracy(test_logits, data.test.labels),
        forget_accuracy=accuracy(forget_logits, data.forget.labels),
        forget_statistic=logit_scaled_confidence(forget_logits, data.forget.labels.numpy()),
        test_statistic=logit_scaled_confidence(test_logits, data.test.labels.numpy()),
    )
