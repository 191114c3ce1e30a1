import torch


def unlearning(net, retain, forget, validation):
    net.register_buffer("smuggled", torch.zeros(1))
    return net
