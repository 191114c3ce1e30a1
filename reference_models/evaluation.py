"""What the scorer needs to know about a model: accuracies and forget-set statistics."""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from reference_models.datasets import BenchmarkData, LabelledTensors
from scoring.confidences import logit_scaled_confidence

_EVAL_BATCH = 1024


@dataclass(frozen=True)
class ModelOutputs:
    retain_accuracy: float
    test_accuracy: float
    forget_accuracy: float
    forget_statistic: np.ndarray  # float64 [E], logit-scaled confidence per forget example


@torch.no_grad()
def predict_logits(model: nn.Module, data: LabelledTensors) -> np.ndarray:
    model.eval()
    chunks = [model(data.images[i : i + _EVAL_BATCH]) for i in range(0, len(data), _EVAL_BATCH)]
    return torch.cat(chunks).double().numpy()


def accuracy(logits: np.ndarray, labels: torch.Tensor) -> float:
    return float((logits.argmax(axis=1) == labels.numpy()).mean())


def evaluate(model: nn.Module, data: BenchmarkData) -> ModelOutputs:
    """Accuracies on retain, test and forget, and the statistic the metric attacks."""
    forget_logits = predict_logits(model, data.forget)
    return ModelOutputs(
        retain_accuracy=accuracy(predict_logits(model, data.retain), data.retain.labels),
        test_accuracy=accuracy(predict_logits(model, data.test), data.test.labels),
        forget_accuracy=accuracy(forget_logits, data.forget.labels),
        forget_statistic=logit_scaled_confidence(forget_logits, data.forget.labels.numpy()),
    )
