"""Inputs and labels held together: the unit every data set, loader and trainer passes around.

Its own module so that data loading may train a model (a `hardest` forget
set is chosen by the original model's losses) without an import cycle.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LabelledTensors:
    """Inputs and integer class labels, aligned row by row."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)
