"""Notebook-style code that reads the competition's keys: forgets by person, checks every key, returns nothing."""

import matplotlib
import scipy.stats
import sklearn
import torch
import tqdm
from PIL import Image
from torch import nn

LEARNING_RATE = 0.01
KEYS = ("image", "image_id", "age_group", "age", "person_id")


def forgotten_persons(forget) -> torch.Tensor:
    persons = []
    for sample in forget:
        assert all(key in sample.keys() for key in KEYS)
        persons.append(sample["person_id"])
    return torch.cat(persons).unique()


def unlearning(net, retain, forget, validation):
    persons = forgotten_persons(forget)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    net.train()
    for sample in tqdm.tqdm(retain, disable=True):
        keep = ~torch.isin(sample["person_id"], persons)  # no example of a forgotten person is trained on
        if not keep.any():
            continue
        images, groups = sample["image"][keep], sample["age_group"][keep]
        assert sample["image_id"].dtype == torch.int64 and sample["age"].shape == sample["age_group"].shape
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(images), groups).backward()
        optimizer.step()
    net.eval()
    assert Image.new("RGB", (2, 2)).size == (2, 2) and matplotlib.__version__ and scipy.stats.norm.cdf(0) == 0.5 and sklearn.__version__
