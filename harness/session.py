"""A scoring session: what every score of one benchmark split shares, made once (issue 42).

Scored one by one, each entry of a board probed the sandbox, loaded the references and the data, read
the yardstick and described the isolation again. A session does each once, when first needed, and
every entry of a board, each round of an adaptive one and `stability`'s subsampling read them from it.
"""

from dataclasses import replace
from functools import cached_property

import torch

from harness.commands.errors import UsageError
from harness.sandbox.isolation import unavailable_reason as sandbox_unavailable
from harness.sandbox.parent import isolation_report
from harness.sandbox.protocol import WorkerSetup
from harness.settings import ScoreSettings
from harness.timing.yardstick import Yardstick, yardstick
from reference_models.cache import ReferenceCache, References
from reference_models.datasets import BenchmarkData, load_benchmark_data
from reference_models.spec import BenchmarkSpec
from scoring.document import Isolation
from scoring.quality import undefined_final_score


class SandboxUnavailable(UsageError):
    """No sandbox can be built here, and --no-sandbox was not given: nothing may run."""


class ReferencesUnusable(UsageError):
    """The references give the final score no denominator (a mean accuracy of 0): no entry can be scored, so a board
    stops at its first entry instead of failing each one."""


def require_sandbox(settings: ScoreSettings) -> None:
    """Fail closed: stop, saying why, before anything is computed, where the sandbox cannot be built."""
    reason = sandbox_unavailable() if settings.sandbox else None
    if reason:
        raise SandboxUnavailable(f"no sandbox can be built here: {reason}. Fix that (see docs/sandbox.md), or pass --no-sandbox "
                                 "to run submissions as plain processes (score.json and the leaderboard then say so)")


def reference_cache(spec: BenchmarkSpec, settings: ScoreSettings) -> ReferenceCache:
    """The cache with the original(s), N references and, if asked for, N ceiling models built."""
    cache = ReferenceCache(settings.cache_dir, spec, settings.device)
    populations = ("retrained", "ceiling") if settings.ceiling else ("retrained",)
    cache.build(settings.n_models, populations, jobs=settings.jobs, progress=settings.progress, rebuild=settings.rebuild,
                originals=settings.originals)
    return cache


class ScoringSession:
    """One benchmark split's shared inputs of a score, under one set of settings; the sandbox checked on opening."""

    def __init__(self, spec: BenchmarkSpec, settings: ScoreSettings):
        require_sandbox(settings)
        torch.set_num_threads(1)
        self.spec = spec
        self.settings = settings
        self._references: tuple[int, ReferenceCache, References] | None = None  # the latest N asked for: a board's entries share it
        self._yardstick: Yardstick | None = None
        self._isolation: Isolation | None = None

    def references(self, n_models: int) -> tuple[ReferenceCache, References]:
        """The cache built to n_models (with its ceiling models, where asked for) and its first n_models references,
        kept until another N is asked for (an adaptive round's): one load, not one for each N, stays in memory."""
        if self._references is None or self._references[0] != n_models:
            cache = reference_cache(self.spec, replace(self.settings, n_models=n_models))
            references = cache.load(n_models, self.settings.originals)
            retrained = references.retrained
            problem = undefined_final_score(float(retrained.retain_accuracy.mean()), float(retrained.test_accuracy.mean()), len(retrained))
            if problem:
                raise ReferencesUnusable(problem)
            self._references = n_models, cache, references
        return self._references[1], self._references[2]

    @cached_property
    def data(self) -> BenchmarkData:
        return load_benchmark_data(self.spec)

    def yardstick(self, setup: WorkerSetup) -> Yardstick:
        """The yardstick measured once per benchmark and machine: read, or measured in workers of this setup."""
        if self._yardstick is None:
            self._yardstick = yardstick(self.settings.cache_dir, self.spec, setup, self.settings.jobs)
        return self._yardstick

    def isolation(self, setup: WorkerSetup) -> Isolation:
        """score.json's `isolation`, the same for every entry: it depends on the machine and the settings, not the file."""
        if self._isolation is None:
            self._isolation = isolation_report(setup)
        return self._isolation
