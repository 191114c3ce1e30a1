"""Sleeps far past any timeout on one run, returns the original model on the others."""

import time

import torch


def unlearning(net, retain, forget, validation):
    if int(torch.randint(0, 1000, ()).item()) % 2 == 0:
        time.sleep(120)
    return net
