"""Identity: returns the original model unchanged. The floor of the table.

Source: the trivial reference point of every unlearning benchmark (Triantafillou
et al. 2024 report it as "original"). Nothing is forgotten, so the unlearned
models are all the same model: every attack separates them from the
retrained ones and F is 0.

Hyperparameters: none.
"""

from torch import nn


def unlearning(net: nn.Module, retain, forget, validation) -> nn.Module:
    return net
