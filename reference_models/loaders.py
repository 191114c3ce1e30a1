"""Kaggle-compatible data sets and loaders.

Competition submissions read batches in two styles: the CIFAR-10 starting kit
unpacks `inputs, targets = batch`, the real competition's code reads the five
keys of its data set, `batch["image"]`, `batch["image_id"]`,
`batch["age_group"]`, `batch["age"]` and `batch["person_id"]`, and builds its
own loaders from `retain.dataset`. A `Sample` answers both: it unpacks to
(image, label) and answers every key (and `label`, the same as `age_group`).
Batches made from samples by torch's default collate are `Sample`s too,
since the collate is told how to batch them.

Where a data set has no ages or persons, documented stand-ins take their
place: `age` is the label and `person_id` is `image_id`, the example's
index in its set (each example its own person).
"""

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate, default_collate_fn_map

from reference_models.tensors import LabelledTensors

KEYS = ("image", "image_id", "age_group", "age", "person_id")
_ALIASES = {"label": "age_group"}


class Sample(tuple):
    """An example (or a batch of them): unpacks to (image, label), answers the competition's five keys."""

    def __new__(cls, image: torch.Tensor, label: torch.Tensor, image_id: torch.Tensor, age: torch.Tensor, person_id: torch.Tensor):
        sample = super().__new__(cls, (image, label))
        sample.fields = dict(zip(KEYS, (image, image_id, label, age, person_id), strict=True))
        return sample

    def arguments(self) -> tuple[torch.Tensor, ...]:
        """What `Sample(...)` was called with, in its order."""
        return tuple(self.fields[key] for key in ("image", "age_group", "image_id", "age", "person_id"))

    def __getnewargs__(self):  # pickling (a participant's DataLoader with num_workers > 0)
        return self.arguments()

    @property
    def image(self) -> torch.Tensor:
        return self.fields["image"]

    @property
    def label(self) -> torch.Tensor:
        return self.fields["age_group"]

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self.fields[_ALIASES.get(key, key)]
            except KeyError:
                raise KeyError(f"{key!r}: a sample has the keys {', '.join(self.keys())}") from None
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        return (*KEYS, *_ALIASES)


def _collate(batch: Sequence[Sample], *, collate_fn_map=None) -> Sample:
    """Torch's collate for samples: every key batched, not only the two the tuple holds."""
    return Sample(*(default_collate(list(values)) for values in zip(*(sample.arguments() for sample in batch), strict=True)))


default_collate_fn_map[Sample] = _collate  # a participant's own DataLoader keeps all five keys


def _stand_ins(data: LabelledTensors) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """image_id, age and person_id of every row: the data's own, or the documented stand-ins."""
    image_ids = torch.arange(len(data))
    ages = data.labels if data.ages is None else data.ages
    persons = image_ids if data.person_ids is None else data.person_ids
    return image_ids, ages, persons


class _GatheredRows(Sequence):
    """The rows of one batch, gathered in one indexing operation.

    `collate_samples` takes the ready batch; torch's default collate (used by
    a participant's own DataLoader) still sees a sequence of samples.
    """

    def __init__(self, dataset: "UnlearningDataset", indices: list[int]):
        index = torch.as_tensor(indices, dtype=torch.long)
        self.batch = dataset.rows(index)

    def __len__(self) -> int:
        return len(self.batch.label)

    def __getitem__(self, i):  # type: ignore[override]
        return Sample(*(values[i] for values in self.batch.arguments()))


class UnlearningDataset(Dataset):
    """A map-style data set of `Sample`s over in-memory tensors."""

    def __init__(self, data: LabelledTensors):
        self.data = data
        self._image_ids, self._ages, self._persons = _stand_ins(data)

    def __len__(self) -> int:
        return len(self.data)

    def rows(self, index) -> Sample:
        """The sample (an int) or batch (a tensor of indices) at `index`."""
        return Sample(self.data.images[index], self.data.labels[index], self._image_ids[index], self._ages[index], self._persons[index])

    def __getitem__(self, i: int) -> Sample:
        return self.rows(i)

    def __getitems__(self, indices: list[int]) -> _GatheredRows:
        return _GatheredRows(self, indices)


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
