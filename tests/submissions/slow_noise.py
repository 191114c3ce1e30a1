"""Adds seeded Gaussian noise to the weights, slowly, so that a test can kill the harness mid-way."""

import time

import torch


def unlearning(net, retain, forget, validation):
    time.sleep(0.3)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return net
