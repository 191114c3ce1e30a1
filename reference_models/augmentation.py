"""Training-time augmentation of image batches: random crop after padding, and horizontal flip.

The CIFAR-10 recipe of the starting kit's world (torchvision's
`RandomCrop(32, padding=4)` and `RandomHorizontalFlip()`), done on a whole
batch in two indexing operations instead of image by image, so that it costs
nothing next to a training step. Padding is zero in normalised space (the
data set's mean colour). Random draws come from torch's global generator,
which the trainer has seeded, so augmented training stays reproducible.
"""

import torch


def crop_and_flip(images: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Each image of [B, C, H, W] shifted by up to `padding` pixels each way, and mirrored with probability 1/2."""
    batch, _, height, width = images.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, batch)).to(images.device)
    flips = (torch.rand(batch) < 0.5).to(images.device)
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    rows = offsets[0, :, None] + torch.arange(height, device=images.device)  # [B, H]
    cols = offsets[1, :, None] + torch.arange(width, device=images.device)  # [B, W]
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    return padded[torch.arange(batch, device=images.device)[:, None, None, None],
                    torch.arange(images.shape[1], device=images.device)[None, :, None, None],
                    rows[:, None, :, None], cols[:, None, None, :]]
