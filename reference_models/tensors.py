"""Inputs and labels held together: the unit every data set, loader and trainer passes around.

Its own module so that data loading may train a model (a `hardest` forget
set is chosen by the original model's losses) without an import cycle.
"""

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LabelledTensors:
    """Inputs and integer class labels, aligned row by row, with the competition's
    per-example age and person where the data set has them (None: it has not)."""

    images: torch.Tensor
    labels: torch.Tensor
    ages: torch.Tensor | None = None
    person_ids: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def clone(self) -> "LabelledTensors":
        """A copy a run may change without touching the next run's data."""
        return LabelledTensors(*(None if t is None else t.clone() for t in (self.images, self.labels, self.ages, self.person_ids)))
