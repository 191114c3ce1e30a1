from torch import nn


def unlearning(net, retain, forget, validation):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
