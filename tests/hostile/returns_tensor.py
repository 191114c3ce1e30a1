import torch


def unlearning(net, retain, forget, validation):
    return torch.zeros(3)
