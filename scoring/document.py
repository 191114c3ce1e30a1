"""score.json as types: the one document that a score, a failed entry and every board, report and console line use.

Built once (harness.outputs.results), never edited afterwards, written by `to_json` and read back by `read_score`, which
upgrades a document of schema 1 (written before the document was typed) and refuses any other. Here, in the lowest
layer, because the leaderboard's rows (scoring) and report.html (rendering) read it too. docs/score-json.md says what
each field means; docs/score.schema.json is scoring.document_schema's `json_schema()` written out (tests/test_score_document.py
keeps it current).
"""

from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
import json
from pathlib import Path
import types
import typing
from typing import Any, Union

SCHEMA_VERSION = 2
RESCORE = "score the submission again with this harness (python -m harness score FILE, or make score SUBMISSION=FILE)"


class ScoreDocumentError(ValueError):
    """A score.json that is not one this harness reads: the message names the file and how to rescore it."""


@dataclass(frozen=True)
class Pair:
    """A mean accuracy of the unlearned models and of as many retrained ones."""

    unlearned: float
    retrained: float

    @property
    def ratio(self) -> float:
        return self.unlearned / self.retrained


@dataclass(frozen=True)
class Failure:
    """The runs of one failure class: how many, and the first one's message (a participant's text, shown inert)."""

    count: int
    first_message: str


@dataclass(frozen=True)
class NotStarted:
    """Runs never started because an earlier one failed, and why."""

    count: int
    reason: str


@dataclass(frozen=True)
class TimeBudget:
    """The time budget measured: the runs' median charged seconds against retraining's, with its interval and verdict."""

    fraction: float
    measure: str  # how both sides were measured, in words
    floor_s: float  # the harness's own cost of a run (the identity baseline's median), taken off both medians
    unlearn_median_s: float | None  # charged to the runs, the floor taken off
    retrain_median_s: float
    ratio: float | None
    ratio_ci: tuple[float, float | None] | None  # the ratio's interval (None above: unbounded), of coverage at least `ratio_ci_coverage`
    ratio_ci_coverage: float | None  # below 0.95 where too few runs or measurements allow no more
    verdict: str  # pass, fail, borderline (the interval holds the limit), or unknown when no run finished
    borderline: str  # what a borderline verdict counts as: pass, fail, or more-runs (timed on more runs first, then pass)
    runs_timed: int  # the ok runs whose charged seconds the verdict rests on (more than N under more-runs)
    policy: str  # eligible or rank-all
    eligible: bool  # ranked among the submissions within budget (always True under rank-all)
    unlearn_wall_median_s: float | None
    import_median_s: float | None  # of the charged seconds, the run's start and the submission's import (None: not reported)
    import_share: float | None  # the median run's import over its charged seconds
    retrain_wall_median_s: float
    retrain_median_ci: tuple[float, float]  # the yardstick's own spread: its median's order-statistic interval (charged s, floor included)
    floor_median_ci: tuple[float, float]  # the same for the floor's median
    retrain_runs: int
    yardstick: str  # paired: retrained beside the runs, in their workers; cached: measured once on this machine
    load_average: dict[str, float | tuple[float, float]]  # the machine's 1-minute load while the runs and the yardstick were measured
    reported_on: str | None = None  # checkpoints made elsewhere: the machine the participant's own timings name (None: timed here)


NOT_MEASURED, UNKNOWN = "not measured", "unknown"


@dataclass(frozen=True)
class UnmeasuredBudget:
    """No time measured: checkpoints made elsewhere without timings (verdict `not measured`, ranked among those within
    budget, every table saying why), or an entry that never got a run (verdict `unknown`, not eligible)."""

    fraction: float | None  # None: a failed entry's, upgraded from schema 1, which did not record it
    policy: str
    reason: str
    verdict: str = NOT_MEASURED
    eligible: bool = True


@dataclass(frozen=True)
class MetricUsed:
    """The attacks and error rates that F was computed with (confidence: only for Clopper-Pearson rates)."""

    attacks: str
    rates: str
    confidence: float | None = None


@dataclass(frozen=True)
class EpsilonSummary:
    mean: float
    median: float
    peaky_examples: int
    undetermined_examples: int


@dataclass(frozen=True)
class AttackSummary:
    """Per-example epsilon from one attack alone, and the F it would give."""

    mean: float
    median: float
    forget_quality: float


@dataclass(frozen=True)
class PanelEntry:
    """One metric of the panel (scoring.panel) beside the official score: its value with its 95% interval (None: too
    few models or replicates), which way is better, where it comes from and what it says."""

    value: float
    ci95: tuple[float, float] | None
    better: str  # higher or lower
    source: str
    says: str
    forget_quality: float | None = None  # the F an attack's value rests on (None: KLoM, not an F)
    controls: dict[str, float] = field(default_factory=dict)  # KLoM on a retain sample and on the test set, which no model trained on
    replicates: tuple[float, ...] = ()  # the value on each half-sample, in draw order: the same halves for every metric and entry


@dataclass(frozen=True)
class OriginalModel:
    retain_accuracy: float
    test_accuracy: float
    forget_accuracy: float


@dataclass(frozen=True)
class OriginalScore:
    """A study of originals: the runs from one original, scored against the first as many references (the metric's
    fields None where they were not scored)."""

    index: int  # 0: the competition's original; k: the one trained from seed k
    original_model: OriginalModel
    n_models_scored: int | None
    forget_quality: float | None
    final_score: float | None
    final_score_ci95: tuple[float, float] | None
    standard_error: float | None  # from the half-samples (None: too few runs to halve)


@dataclass(frozen=True)
class Heterogeneity:
    """How K per-original scores spread, against what the runs' randomness alone explains (scoring.originals)."""

    spread_sd: float  # the plain standard deviation of the scores (ddof 1)
    chance_sd: float  # the root mean square of their standard errors: the spread expected were the original no matter
    between_sd: float  # DerSimonian-Laird tau: the spread the original adds beyond chance (0: none detected)
    q: float  # Cochran's Q
    p_value: float  # of Q, chi-squared on K - 1 degrees of freedom


@dataclass(frozen=True)
class OriginalsStudy:
    """--originals K: the score from each original, how much they differ beyond what the runs' randomness explains
    (None where no spread can be told from chance), and what that says."""

    count: int
    per_original: tuple[OriginalScore, ...]
    heterogeneity: Heterogeneity | None
    says: str


@dataclass(frozen=True)
class MiaPopulation:
    """The population attack's accuracy over a population's models."""

    mean: float
    std: float
    n_models: int


@dataclass(frozen=True)
class SimpleMia:
    """The starting kit's population attack (forget against test losses) on each kind of model; not part of the score."""

    original: float
    unlearned: MiaPopulation
    retrained: MiaPopulation


@dataclass(frozen=True)
class EpsilonSpread:
    """Per-example epsilon on a set other than the forget set, and the F it would earn."""

    n_examples: int
    mean: float
    median: float
    share_above_1: float
    forget_quality_equivalent: float
    epsilons: tuple[float, ...]


@dataclass(frozen=True)
class CollateralPrivacy:
    """Epsilon on a retain sample and on the test set as a control, with the same attacks and models; not part of the score."""

    retain_sample: EpsilonSpread
    test_control: EpsilonSpread


@dataclass(frozen=True)
class Poisoning:
    """The poisoned scenario: test accuracy of the poisoned original, of the unlearned models and of models trained
    without the poisoned examples, and the share of the loss restored (None: nothing to restore)."""

    clean_accuracy: float
    accuracy_before: float
    accuracy_after: float
    accuracy_restored: float | None


@dataclass(frozen=True)
class Isolation:
    """What held the submission in on this machine."""

    mechanism: str  # "bubblewrap", or "none (--no-sandbox)"
    namespaces: tuple[str, ...]
    processes: str  # how the number of processes is limited
    memory: str  # how memory is limited
    cpu: str  # how a run's CPU time is measured, and whether a run can hide some of it
    identity: str  # who the sandbox is to the host's kernel
    system_calls: str  # which calls the filter refuses


@dataclass(frozen=True)
class CompetitionUsed:
    """The competition a score used (a built-in's name or a file's path) and the values the command line gave over it."""

    source: str
    overrides: dict[str, Any]


@dataclass(frozen=True)
class CheckpointsUsed:
    """Checkpoints made elsewhere, scored as the runs: their names in run order, the members ignored, the timings file if any."""

    runs: tuple[str, ...]
    ignored: tuple[str, ...]
    timings: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScoreDocument:
    """score.json. A failed entry is this type with the metric's fields None."""

    schema_version: int = SCHEMA_VERSION
    benchmark: str
    benchmark_key: str
    submission: str
    submission_sha256: str | None = None  # of the file as given (None: refused before it was read)
    models_from: str  # runs: the harness ran the code; checkpoints: models made elsewhere
    status: str  # scored, scored-with-failures or failed
    n_models: int | None = None  # runs planned (more than asked under --borderline more-runs)
    n_models_scored: int | None = None
    runs: dict[str, int]  # by status
    runs_retried: int = 0  # counted from a later attempt, after a timeout or a worker crash
    not_started: NotStarted | None = None
    failures: dict[str, Failure]  # by failure class
    time_budget: TimeBudget | UnmeasuredBudget
    forget_quality: float | None = None
    forget_quality_ci95: tuple[float, float] | None = None
    forget_quality_ceiling: float | None = None  # F of models retrained from scratch at this N (--ceiling)
    final_score: float | None = None
    final_score_ci95: tuple[float, float] | None = None
    interval_method: str | None = None
    interval_replicates: int | None = None
    retain_accuracy: Pair | None = None
    test_accuracy: Pair | None = None
    forget_accuracy: Pair | None = None
    metric: MetricUsed | None = None
    epsilon: EpsilonSummary | None = None
    epsilon_by_attack: dict[str, AttackSummary] = field(default_factory=dict)
    panel: dict[str, PanelEntry] = field(default_factory=dict)  # official, strong, lira, klom (none on a document scored before the panel)
    original_model: OriginalModel | None = None
    originals: OriginalsStudy | None = None  # under --originals K: every run's original, and the score per original
    simple_mia: SimpleMia | None = None
    collateral_privacy: CollateralPrivacy | None = None
    poisoning: Poisoning | None = None
    isolation: Isolation | None = None
    competition: CompetitionUsed | None = None
    checkpoints: CheckpointsUsed | None = None
    versions: dict[str, str]

    @property
    def scored(self) -> bool:
        return self.final_score is not None


def to_json(document: ScoreDocument) -> str:
    """score.json's text: every field, null where absent."""
    return json.dumps(asdict(document), indent=2) + "\n"


def from_json(text: str, source: str = "score.json") -> ScoreDocument:
    """The document in `text` (named `source` in errors), a schema 1 document upgraded; ScoreDocumentError otherwise."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ScoreDocumentError(f"{source} is not JSON ({error}): {RESCORE}") from None
    if not isinstance(raw, dict):
        raise ScoreDocumentError(f"{source} is not a score.json (not an object): {RESCORE}")
    version = raw.get("schema_version", 1)
    if version == 1:
        raw = _upgraded(raw)
    elif version != SCHEMA_VERSION:
        raise ScoreDocumentError(f"{source} is of schema {version!r}; this harness reads schemas 1 and {SCHEMA_VERSION}: {RESCORE}")
    try:
        document: ScoreDocument = _build(ScoreDocument, raw, "")
    except (TypeError, ValueError, KeyError) as error:
        raise ScoreDocumentError(f"{source} does not hold a score of schema {SCHEMA_VERSION}: {error}. {RESCORE}") from None
    return document


def read_score(path: Path) -> ScoreDocument:
    return from_json(path.read_text(), str(path))


_POISONING = ("clean_accuracy", "accuracy_before", "accuracy_after", "accuracy_restored")
_UNMEASURED_NULLS = ("unlearn_median_s", "retrain_median_s", "ratio", "ratio_ci")


def _upgraded(raw: dict[str, Any]) -> dict[str, Any]:
    """A schema 1 document (flat poisoning, a failed entry's budget of nulls) in schema 2's shape."""
    raw = {**raw, "schema_version": SCHEMA_VERSION}
    if "accuracy_restored" in raw:
        raw["poisoning"] = {key: raw.pop(key) for key in _POISONING}
    budget = dict(raw.get("time_budget") or {})
    if "measure" not in budget:  # not measured: drop the nulls schema 1 wrote for its readers
        for key in _UNMEASURED_NULLS:
            budget.pop(key, None)
        if "reason" not in budget:  # a failed entry's
            budget.update(fraction=None, policy="eligible", reason="the entry was not scored", eligible=False)
        raw["time_budget"] = budget
    return raw


def _build(kind: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) as `kind`, a type of this module's annotations; TypeError naming the field where it is not one."""
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in arguments:
            return None
        errors = []
        for option in (argument for argument in arguments if argument is not type(None)):
            try:
                return _build(option, value, where)
            except (TypeError, ValueError, KeyError) as error:
                errors.append(str(error))
        raise TypeError(f"{where or 'the document'}: none of its forms fits ({'; '.join(errors)})")
    if isinstance(kind, type) and is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"{where or 'the document'} is not an object")
        known = {f.name: f for f in fields(kind)}
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise TypeError(f"{where or 'the document'} has unknown fields {', '.join(unknown)}")
        hints = typing.get_type_hints(kind)
        missing = [name for name, f in known.items() if name not in value and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise TypeError(f"{where or 'the document'} lacks {', '.join(missing)}")
        return kind(**{name: _build(hints[name], item, f"{where}.{name}".lstrip(".")) for name, item in value.items()})
    if origin is tuple:
        if not isinstance(value, list) or (arguments[-1] is not Ellipsis and len(value) != len(arguments)):
            raise TypeError(f"{where} is not a list of {len(arguments)}")
        items = arguments[:1] * len(value) if arguments[-1] is Ellipsis else arguments
        return tuple(_build(item_kind, item, f"{where}[{i}]") for i, (item_kind, item) in enumerate(zip(items, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where} is not an object")
        return {key: _build(arguments[1], item, f"{where}.{key}") for key, item in value.items()}
    if kind is Any:
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind is type(None) and value is None:
        return None
    if kind in (str, int, bool) and type(value) is kind:
        return value
    raise TypeError(f"{where} is {value!r}, not {getattr(kind, '__name__', kind)}")
