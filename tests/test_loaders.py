"""Kaggle compatibility: both batch styles, `.dataset`, and seeded shuffling."""

import pytest
import torch
from torch.utils.data import DataLoader

from reference_models.tensors import LabelledTensors
from reference_models.loaders import make_loader


@pytest.fixture
def data() -> LabelledTensors:
    return LabelledTensors(torch.arange(200, dtype=torch.float32).reshape(100, 2), torch.arange(100) % 7)


def test_tuple_unpacking(data):
    inputs, targets = next(iter(make_loader(data, seed=0)))
    assert inputs.shape == (64, 2) and targets.shape == (64,)
    assert torch.equal(inputs[:, 0] / 2 % 7, targets.float())  # rows stay aligned


def test_dict_keys(data):
    batch = next(iter(make_loader(data, seed=0)))
    assert torch.equal(batch["image"], batch[0])
    assert torch.equal(batch["label"], batch[1])
    assert torch.equal(batch["age_group"], batch[1])
    with pytest.raises(KeyError, match="image"):
        batch["person_id"]


def test_own_loader_from_dataset(data):
    loader = make_loader(data, seed=0)
    own = DataLoader(loader.dataset, batch_size=10, shuffle=False)  # torch's default collate
    batches = list(own)
    assert len(batches) == 10
    inputs, targets = batches[0]
    assert torch.equal(batches[0]["image"], data.images[:10]) and torch.equal(targets, data.labels[:10])
    assert len(loader.dataset) == 100 and loader.dataset[3]["age_group"] == data.labels[3]


def test_defaults_and_seeded_shuffle(data):
    loader = make_loader(data, seed=5)
    assert loader.batch_size == 64
    first = [b["label"].tolist() for b in make_loader(data, seed=5)]
    again = [b["label"].tolist() for b in loader]
    other = [b["label"].tolist() for b in make_loader(data, seed=6)]
    assert first == again and first != other
    assert sorted(sum(first, [])) == sorted(data.labels.tolist())  # every row exactly once
