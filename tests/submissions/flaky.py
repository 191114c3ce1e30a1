"""Fails in different ways on some runs, and works on the others."""

import torch


def unlearning(net, retain, forget, validation):
    choice = int(torch.randint(0, 4, ()).item())  # seeded per run by the harness
    if choice == 0:
        raise RuntimeError("deliberate failure for the test")
    if choice == 1:
        return torch.zeros(1)  # not a model
    if choice == 2:
        with torch.no_grad():
            next(net.parameters()).fill_(float("nan"))
    return net
