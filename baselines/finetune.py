"""Fine-tuning on the retain set: the competition starting kit's baseline.

Source: the NeurIPS 2023 Machine Unlearning starting kit, which fine-tunes the
original model on the retain set with SGD (momentum 0.9, weight decay 5e-4)
and a cosine schedule, hoping that the forget set is forgotten on the way.
The file stays self-contained on purpose: it is the example to copy.

Hyperparameters (scaled to digits-mlp): 3 epochs (a tenth of the 30-epoch
training recipe) at learning rate 0.01.
"""

import torch
from torch import nn

EPOCHS = 3
LEARNING_RATE = 0.01


def unlearning(net: nn.Module, retain, forget, validation) -> nn.Module:
    optimiser = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=EPOCHS)
    loss_fn = nn.CrossEntropyLoss()
    device = next(net.parameters()).device  # the harness hands the net over on --device; batches come on the CPU
    net.train()
    for _ in range(EPOCHS):
        for inputs, targets in retain:
            inputs, targets = inputs.to(device), targets.to(device)
            optimiser.zero_grad()
            loss_fn(net(inputs), targets).backward()
            optimiser.step()
        schedule.step()
    net.eval()
    return net
