"""What a run's answer is worth: the weights a worker sent, evaluated here in the trusted parent, and
the seconds it is charged, as one ledger row (harness.running.runs decides which runs are made and where)."""

from harness.running import failures
from harness.running.ledger import RunRecord, not_finite
from harness.sandbox.parent import RunOutcome
from harness.sandbox.weights import InvalidWeights, model_from_weights
from reference_models.datasets import BenchmarkData
from reference_models.evaluation import evaluate
from reference_models.spec import BenchmarkSpec


def _statistics(spec: BenchmarkSpec, data: BenchmarkData, weights: bytes, device: str) -> dict:
    """The returned model evaluated here, or InvalidWeights saying why it cannot be.

    Every failure to load or evaluate what a worker sent is the submission's:
    weights that pass the checks may still make the parent's own evaluation
    overflow (finite but huge), on every input or on one image alone, and any
    statistic or accuracy that is not finite would poison the metric.
    """
    model = model_from_weights(spec, weights)
    try:
        row = evaluate(model.to(device), data).to_row()
    except Exception as error:
        raise InvalidWeights(f"the returned model could not be evaluated: {type(error).__name__}: {error}") from None
    bad = not_finite(row)
    if bad:
        raise InvalidWeights(f"the returned model's {', '.join(bad)} are not finite (NaN or Inf logits, on some inputs at least): "
                             "are its weights far out of range?")
    return row


def charged_seconds(outcome: RunOutcome, device: str) -> float | None:
    """What a run is charged: its process tree's CPU time on the CPU, and its wall time on a GPU
    (whose work the CPU clock does not see)."""
    return outcome.cpu_seconds if device == "cpu" else outcome.wall_seconds


def record_of(spec: BenchmarkSpec, data: BenchmarkData, run_id: int, seed: int, outcome: RunOutcome, device: str) -> RunRecord:
    """Turn a worker's answer into a ledger row, evaluating the weights ourselves."""
    base = dict(run_id=run_id, seed=seed, unlearn_seconds=charged_seconds(outcome, device), wall_seconds=outcome.wall_seconds,
                import_seconds=outcome.import_seconds)
    empty = dict(retain_accuracy=None, test_accuracy=None, forget_accuracy=None, forget_statistic=None, test_statistic=None, retain_statistic=None)

    def failed(failure_class: str, message: str) -> RunRecord:
        return RunRecord(**base, status=failures.STATUS[failure_class], failure_class=failure_class, message=message, **empty)

    if outcome.failure_class is not None:
        return failed(outcome.failure_class, outcome.message)
    try:
        row = _statistics(spec, data, outcome.weights, device)
    except InvalidWeights as error:
        return failed(failures.INVALID_OUTPUT, failures.message(failures.INVALID_OUTPUT, run_id, str(error)))
    return RunRecord(**base, status="ok", failure_class=None, message="", **row)
