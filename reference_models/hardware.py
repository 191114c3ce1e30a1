"""A description of the machine that timed the reference models."""

import os
import platform

import torch

from reference_models.errors import InputError


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def resolve_device(name: str) -> str:
    """"auto": cuda when torch sees a GPU, else cpu; "cuda" without a GPU is an error that says so."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: torch sees no GPU here (torch.cuda.is_available() is False); use --device cpu or auto")
    if name not in ("cpu", "cuda"):
        raise InputError(f"unknown device {name!r}; known: auto, cpu, cuda")
    return name


def hardware_fingerprint(device: str = "cpu") -> dict:
    """Enough to tell whether retrain times measured elsewhere are comparable here."""
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
    }
