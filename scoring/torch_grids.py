"""The two official grid attacks in torch, for a GPU.

Thresholds are built with the organisers' arithmetic (numpy's linspace is
j * step + start with the last value set to stop; two separate torch
operations round the same way on any device, and the single-threshold grid is
the organisers' float32 torch.linspace, built on the CPU and widened), counted with torch.searchsorted and looked up in
the same float32 table as the numpy path. Every step is exact integer or
IEEE arithmetic, so the epsilons are bit-for-bit those of the numpy path; a
test holds the two together on the CPU.
"""

import numpy as np
import torch

from scoring.attacks import LEFTS_PER_RIGHT, TableFor, narrow_first, official_interval_grid, official_threshold_grid
from scoring.counting import MergedSample


def _best(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    if index.numel() == 0:
        return torch.tensor(-torch.inf, device=table.device)
    return table.take(index.clamp(min=0).long()).max()


def _interval(pos: np.ndarray, neg: np.ndarray, table: torch.Tensor, device: torch.device) -> torch.Tensor:
    narrow, wide = narrow_first(pos, neg)
    sample = MergedSample(narrow, wide)
    rights, starts, stops = (torch.from_numpy(a).to(device) for a in official_interval_grid(narrow))
    steps = (stops - starts) / (LEFTS_PER_RIGHT - 1)
    lefts = torch.arange(LEFTS_PER_RIGHT, dtype=torch.float64, device=device)[None, :] * steps[:, None]
    lefts = lefts + starts[:, None]
    lefts[:, -1] = stops
    values = torch.from_numpy(sample.values).to(device)
    keys = torch.from_numpy(sample.key_by_count).to(device)
    right_keys = keys[torch.searchsorted(values, rights, right=True)]
    left_keys = keys[torch.searchsorted(values, lefts.contiguous())]
    return _best(table, right_keys[:, None] - left_keys)


def _single_threshold(pos: np.ndarray, neg: np.ndarray, table: torch.Tensor, device: torch.device) -> torch.Tensor:
    sample = MergedSample(pos, neg)
    thresholds = torch.from_numpy(official_threshold_grid(sample.values)).to(device)
    values = torch.from_numpy(sample.values).to(device)
    keys = torch.from_numpy(sample.key_by_count).to(device)
    return _best(table, sample.key_all - keys[torch.searchsorted(values, thresholds)])


GRID_ATTACKS = {"interval": _interval, "single-threshold": _single_threshold}


def grid_attacks(examples: list[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], table_for: TableFor, device: str) -> np.ndarray:
    """Raw maxima [len(examples), len(names)] of the named grid attacks, computed on `device`."""
    target = torch.device(device)
    tables: dict[tuple[int, int], torch.Tensor] = {}
    results = []
    for pos, neg in examples:
        row = []
        for name in names:
            narrow, wide = (pos, neg) if name == "single-threshold" else narrow_first(pos, neg)
            sizes = (len(narrow), len(wide))
            if sizes not in tables:
                tables[sizes] = torch.tensor(table_for(*sizes), device=target)
            row.append(GRID_ATTACKS[name](pos, neg, tables[sizes], target))
        results.append(torch.stack(row) if row else torch.zeros(0, device=target))
    return torch.stack(results).cpu().numpy().astype(np.float64) if results else np.zeros((0, len(names)))
