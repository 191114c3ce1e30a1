"""In the shape of the competition's starting notebook: fine-tune on retain, end with net.eval(), return nothing."""

import os

import numpy as np
import pandas as pd
import torch
from torch import nn, optim

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
EPOCHS = 1


def unlearning(net, retain, forget, validation):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    net.train()
    losses = []
    for _ in range(EPOCHS):
        for sample in retain:
            inputs, targets = sample["image"].to(DEVICE), sample["age_group"].to(DEVICE)
            optimizer.zero_grad()
            loss = criterion(net(inputs), targets)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    print(pd.Series(losses).describe().to_string(), os.getpid(), np.mean(losses))
    net.eval()
