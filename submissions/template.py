"""Template submission: copy this file and fill in `unlearning`.

The contract (the NeurIPS 2023 Machine Unlearning competition's):

    unlearning(net, retain, forget, validation) -> torch.nn.Module

- `net`: a fresh copy of the original model, trained on retain + forget. Change
  it in place or build another model of the same architecture; return it.
- `retain`, `forget`, `validation`: torch DataLoaders (batch 64, shuffled, seeded
  per run). A batch unpacks as `inputs, targets = batch` and also answers
  `batch["image"]`, `batch["label"]` and `batch["age_group"]` (the label), so
  competition code runs unchanged. `retain.dataset` is a map-style data set for
  building your own loaders.
- You never see the test set. Each call runs on one CPU thread (or on the GPU
  with `--device cuda`: pick yours with `torch.cuda.is_available()`), in a separate
  sandboxed process (no network, a read-only file system but for its working
  directory, a memory limit); torch, numpy and Python's `random` are seeded
  before each call. Keep your code in this one file: its folder is hidden.
- Your function is called N times (512 by default), each with its own seed;
  the median time of a call must stay within 20% of the median time to retrain
  the model from scratch, or the time budget verdict is `fail`.
"""

import torch


def unlearning(
    net: torch.nn.Module,
    retain: torch.utils.data.DataLoader,
    forget: torch.utils.data.DataLoader,
    validation: torch.utils.data.DataLoader,
) -> torch.nn.Module:
    """Return `net` changed so that it behaves as if never trained on `forget`."""
    return net
