"""Kaggle-compatible data sets and loaders.

Competition submissions read batches in two styles: the CIFAR-10 starting kit
unpacks `inputs, targets = batch`, the real competition's code reads
`batch["image"]` and `batch["age_group"]` and builds its own loaders from
`retain.dataset`. A `Sample` answers both, and so does every batch made from
samples by torch's default collate (it keeps named-tuple types).
"""

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from reference_models.tensors import LabelledTensors

_LABEL_ALIASES = ("label", "age_group")


class Sample(NamedTuple):
    """An (image, label) pair that also answers dict-style keys."""

    image: torch.Tensor
    label: torch.Tensor

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            if key == "image":
                return self.image
            if key in _LABEL_ALIASES:
                return self.label
            raise KeyError(f"{key!r}: a sample has the keys {', '.join(self.keys())}")
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return ("image", *_LABEL_ALIASES)


class _GatheredRows(Sequence):
    """The rows of one batch, gathered in one indexing operation.

    `collate_samples` takes the ready batch; torch's default collate (used by
    a participant's own DataLoader) still sees a sequence of samples.
    """

    def __init__(self, data: LabelledTensors, indices: list[int]):
        index = torch.as_tensor(indices, dtype=torch.long)
        self.batch = Sample(data.images[index], data.labels[index])

    def __len__(self) -> int:
        return len(self.batch.label)

    def __getitem__(self, i):  # type: ignore[override]
        return Sample(self.batch.image[i], self.batch.label[i])


class UnlearningDataset(Dataset):
    """A map-style data set of `Sample`s over in-memory tensors."""

    def __init__(self, data: LabelledTensors):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.data.images[i], self.data.labels[i])

    def __getitems__(self, indices: list[int]) -> _GatheredRows:
        return _GatheredRows(self.data, indices)


def collate_samples(rows):
    """Batch rows into one `Sample`, without re-stacking rows gathered at once."""
    if isinstance(rows, _GatheredRows):
        return rows.batch
    return default_collate(rows)


def make_loader(data: LabelledTensors, batch_size: int = 64, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order is fixed by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        UnlearningDataset(data),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=collate_samples,
    )
