"""What a submission may import from the harness: the benchmark's own training recipe.

A baseline such as `retrain` must train exactly as the reference models were
trained, and stay honest when a benchmark's recipe changes; hand-copied
hyperparameters would drift. The sandbox worker names the benchmark here
before it loads the submission, so that inside a run

    from harness import kit
    recipe = kit.training_recipe()            # epochs, batch size, SGD settings
    kit.fit(kit.reinitialise(net), retain, recipe)   # the references' own loop

Outside the harness's worker (a notebook, a Kaggle kernel) no benchmark is
named and `training_recipe()` says so.
"""

from torch import nn

from reference_models.spec import BenchmarkSpec, TrainingRecipe
from reference_models.training import fit

__all__ = ["TrainingRecipe", "fit", "reinitialise", "training_recipe", "use_benchmark"]

_benchmark: BenchmarkSpec | None = None


def use_benchmark(spec: BenchmarkSpec) -> None:
    """Name the benchmark being scored (the worker calls this, once)."""
    global _benchmark
    _benchmark = spec


def training_recipe() -> TrainingRecipe:
    """The training recipe of the benchmark being scored."""
    if _benchmark is None:
        raise RuntimeError("no benchmark is being scored: harness.kit.training_recipe() works inside a harness run")
    return _benchmark.recipe


def reinitialise(net: nn.Module) -> nn.Module:
    """Draw every layer's parameters afresh (from torch's seeded generator), in place."""
    for module in net.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return net
