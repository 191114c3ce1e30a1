"""In the shape of the CIFAR-10 starting kit: tuple batches, a model returned; requests imported at the top."""

import requests
import torch
from torch import nn, optim

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def unlearning(net, retain, forget, validation):
    epochs = 1
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    net.train()
    for _ in range(epochs):
        for inputs, targets in retain:
            inputs, targets = inputs.to(DEVICE), targets.to(DEVICE)
            optimizer.zero_grad()
            criterion(net(inputs), targets).backward()
            optimizer.step()
    net.eval()
    assert requests.codes.ok == 200
    return net
