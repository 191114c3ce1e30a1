"""The reference cache: content-keyed, resumable model by model, checked on load."""

from dataclasses import replace
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, cli_spec, run_cli
from harness.benchmarks import get_benchmark
from reference_models.cache import ReferenceCache
from reference_models.datasets import load_benchmark_data


@pytest.fixture(scope="module")
def quick_spec():
    """digits-mlp with a two-epoch recipe: the same code paths, a fraction of the time."""
    spec = get_benchmark("digits-mlp")
    return replace(spec, recipe=replace(spec.recipe, epochs=2))


def test_digits_split_sizes_and_partition(quick_spec):
    data = load_benchmark_data(quick_spec)
    assert (len(data.train), len(data.validation), len(data.test)) == (1437, 180, 180)
    assert (len(data.forget), len(data.retain)) == (144, 1293)
    assert len(data.retain) + len(data.forget) == len(data.train)


def test_every_field_changes_the_key(quick_spec):
    spec = get_benchmark("digits-mlp")
    variants = [
        replace(spec, split_seed=spec.split_seed + 1),
        replace(spec, forget_seed=spec.forget_seed + 1),
        replace(spec, forget_fraction=0.2),
        replace(spec, hidden_sizes=(32,)),
        replace(spec, loader_batch_size=32),
        quick_spec,
    ]
    assert len({spec.key(), *(v.key() for v in variants)}) == len(variants) + 1


@pytest.mark.references
def test_resumes_and_reuses_the_first_models(quick_spec, tmp_path):
    cache = ReferenceCache(tmp_path, quick_spec)
    cache.build(2, jobs=1, progress=False)
    first = {p.name: p.stat().st_mtime_ns for p in (cache.dir / "retrained").iterdir()}
    small = ReferenceCache(tmp_path, quick_spec).load(2)

    bigger = ReferenceCache(tmp_path, quick_spec)
    bigger.build(4, jobs=2, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (cache.dir / "retrained").iterdir()}
    assert {k: after[k] for k in first} == first  # the first two were not retrained
    refs = ReferenceCache(tmp_path, quick_spec).load(4)
    np.testing.assert_array_equal(refs.retrained.forget_statistic[:2], small.retrained.forget_statistic)
    assert refs.retrained.forget_statistic.shape == (4, 144) and refs.retrained.test_statistic.shape == (4, 180)
    assert len(np.unique(refs.retrained.forget_statistic, axis=0)) == 4  # each model its own seed


@pytest.mark.references
def test_same_models_whatever_the_number_of_jobs(quick_spec, tmp_path):
    one = ReferenceCache(tmp_path / "one", quick_spec)
    one.build(2, jobs=1, progress=False)
    two = ReferenceCache(tmp_path / "two", quick_spec)
    two.build(2, jobs=2, progress=False)
    np.testing.assert_array_equal(one.load(2).retrained.forget_statistic, two.load(2).retrained.forget_statistic)


@pytest.mark.references
def test_damaged_model_file_is_rebuilt_not_used(quick_spec, tmp_path):
    cache = ReferenceCache(tmp_path, quick_spec)
    cache.build(2, jobs=1, progress=False)
    good = cache.load(2).retrained.forget_statistic
    (cache.dir / "retrained" / "0001.pt").write_bytes(b"tampered")
    reopened = ReferenceCache(tmp_path, quick_spec)
    with pytest.raises(RuntimeError, match="build it first"):
        reopened.load(2)
    reopened.build(2, jobs=1, progress=False)
    np.testing.assert_array_equal(ReferenceCache(tmp_path, quick_spec).load(2).retrained.forget_statistic, good)


@pytest.mark.references
def test_ceiling_population_is_separate_from_the_references(quick_spec, tmp_path):
    cache = ReferenceCache(tmp_path, quick_spec)
    cache.build(2, ("retrained", "ceiling"), jobs=2, progress=False)
    retrained, ceiling = cache.population("retrained", 2), cache.population("ceiling", 2)
    assert not np.array_equal(retrained.forget_statistic, ceiling.forget_statistic)


@pytest.mark.references
@pytest.mark.cli
def test_two_harness_processes_share_one_cache_safely(tmp_path):
    args = [sys.executable, "-m", "harness", "references", "--n-models", "3", "--cache-dir", str(tmp_path), "--quiet", "--jobs", "1"]
    first, second = (subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2))
    assert first.wait(timeout=600) == 0, first.stderr.read()
    assert second.wait(timeout=600) == 0, second.stderr.read()
    cache = ReferenceCache(tmp_path, cli_spec(tmp_path))
    assert cache.damaged == [] and cache.load(3).retrained.forget_statistic.shape == (3, 144)


def test_no_rebuild_reports_a_tampered_file_and_uses_nothing(reference_cache, tmp_path):
    copy = tmp_path / "cache"
    shutil.copytree(reference_cache, copy)
    victim = next(copy.glob("*/retrained/0002.pt"))
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    result = run_cli("references", "--n-models", "4", "--cache-dir", str(copy), "--no-rebuild", "--quiet")
    assert result.returncode == 4
    assert str(victim) in result.stderr and "run without --no-rebuild" in result.stderr
    assert ReferenceCache(copy, cli_spec(copy)).damaged == [str(victim)]  # still reported, never used
