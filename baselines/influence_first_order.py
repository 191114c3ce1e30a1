"""First-order influence unlearning: one step up the forget set's summed loss gradient, scaled by tau over n.

Source: Warnecke, Pirch, Wressnegger and Rieck 2023, "Machine Unlearning of
Features and Labels" (NDSS, arXiv 2108.11577). Their first-order update
moves the weights by tau times the difference between the loss gradients
on the points to remove and on their replacements; removing points outright
leaves the replacement set empty, so the update is tau times the forget
set's summed loss gradient, divided by the training set's size as each
point's share of the mean training loss. It is the influence function's
Newton step with the inverse Hessian replaced by the scalar tau: one
gradient over forget, nothing over retain, and nothing else after it. The
update is deterministic (a sum over forget, whatever the batch order), so
every run returns the same model, which the per-example attack separates
from the spread of retrained models whatever tau is: F is 0.

Hyperparameters (scaled to digits-mlp):
- TAU 20: the step in units of the mean training loss's gradient, standing
  in for the inverse Hessian; 10 changed no prediction, 100 cost 17 points
  of retain accuracy, 20 lowers forget accuracy by a point and keeps retain.
"""

import torch
from torch import nn
import torch.nn.functional as F

TAU = 20.0


def _summed_gradient(net: nn.Module, loader) -> list[torch.Tensor]:
    """Gradient of the cross-entropy summed over the loader's examples, one tensor per parameter."""
    device = next(net.parameters()).device  # the harness hands the net over on --device; batches come on the CPU
    net.zero_grad()
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        F.cross_entropy(net(inputs), labels, reduction="sum").backward()
    gradients = [p.grad.detach().clone() for p in net.parameters()]
    net.zero_grad()
    return gradients


def unlearning(net: nn.Module, retain, forget, validation) -> nn.Module:
    net.eval()
    n_train = len(retain.dataset) + len(forget.dataset)
    gradients = _summed_gradient(net, forget)
    with torch.no_grad():
        for parameter, gradient in zip(net.parameters(), gradients, strict=True):
            parameter.add_(gradient, alpha=TAU / n_train)
    return net
