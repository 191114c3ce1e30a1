"""Kaggle compatibility: both batch styles, `.dataset`, and seeded shuffling."""

import pytest
import torch
from torch.utils.data import DataLoader

from reference_models.loaders import make_loader
from reference_models.tensors import LabelledTensors


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
    with pytest.raises(KeyError, match="image_id"):
        batch["gender"]


def test_five_competition_keys_with_stand_ins(data):
    """image_id is the row's index in its set; without ages or persons, age is the label and person_id the image_id."""
    batch = next(iter(make_loader(data, seed=0)))
    assert set(batch.keys()) >= {"image", "image_id", "age_group", "age", "person_id"}
    assert torch.equal(batch["image"], data.images[batch["image_id"]])
    assert torch.equal(batch["age"], batch["age_group"]) and torch.equal(batch["person_id"], batch["image_id"])


def test_five_keys_from_the_data_and_through_the_default_collate():
    data = LabelledTensors(torch.zeros(6, 2), torch.arange(6) % 2, ages=torch.arange(20, 26), person_ids=torch.tensor([7, 7, 8, 8, 9, 9]))
    own = DataLoader(make_loader(data).dataset, batch_size=4, shuffle=False)  # torch's default collate
    batch = next(iter(own))
    assert batch["age"].tolist() == [20, 21, 22, 23] and batch["person_id"].tolist() == [7, 7, 8, 8]
    assert batch["image_id"].tolist() == [0, 1, 2, 3] and batch["label"].tolist() == [0, 1, 0, 1]
    inputs, targets = batch
    assert inputs.shape == (4, 2)


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
