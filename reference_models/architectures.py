"""Model architectures, built from a benchmark spec."""

from torch import nn

from reference_models.spec import BenchmarkSpec

_INPUT_FEATURES = {"sklearn-digits": 64}
_NUM_CLASSES = {"sklearn-digits": 10}


def _mlp(in_features: int, hidden_sizes: tuple[int, ...], num_classes: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for hidden in hidden_sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_model(spec: BenchmarkSpec) -> nn.Module:
    """A freshly initialised model of the spec's architecture (seed torch first)."""
    if spec.architecture != "mlp":
        raise ValueError(f"unknown architecture {spec.architecture!r}; known: mlp")
    return _mlp(_INPUT_FEATURES[spec.dataset], spec.hidden_sizes, _NUM_CLASSES[spec.dataset])
