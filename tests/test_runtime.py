import numpy as np
import pytest
import torch

from course_utils import runtime


def test_fast_budget_from_env(monkeypatch):
    assert not runtime.is_fast()
    monkeypatch.setenv("COURSE_FAST", "1")
    assert runtime.is_fast()
    assert runtime.run_mode() == "fast"
    assert runtime.budget(fast=1, cpu=5, gpu=20) == 1


def test_nbgrader_execution_counts_as_fast(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert runtime.in_nbgrader()
    assert runtime.budget(fast="tiny", cpu="medium") == "tiny"


def test_cpu_and_gpu_budgets():
    assert runtime.budget(fast=1, cpu=5, gpu=20, device="cpu") == 5
    assert runtime.budget(fast=1, cpu=5, gpu=20, device="cuda") == 20
    assert runtime.budget(fast=1, cpu=5, device="cuda") == 5  # gpu defaults to the cpu setting


def test_cpu_device_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.get_device() == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_requesting_missing_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        runtime.get_device("cuda")


def test_default_device_matches_hardware():
    expected = "cuda" if torch.cuda.is_available() else None
    device = runtime.get_device()
    if expected:
        assert device.type == expected
    else:
        assert device.type in {"cpu", "mps"}


def test_seed_everything_repeats_all_generators():
    rng_a = runtime.seed_everything(123)
    draws_a = (np.random.rand(3), torch.rand(3), rng_a.random(3))
    rng_b = runtime.seed_everything(123)
    draws_b = (np.random.rand(3), torch.rand(3), rng_b.random(3))
    for a, b in zip(draws_a, draws_b):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    assert not runtime.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert runtime.in_colab()


@pytest.mark.gpu
def test_cuda_is_chosen_first():
    assert runtime.get_device().type == "cuda"
    assert runtime.run_mode() == "gpu"


def _threads_in_fresh_process(env_threads=None):
    """torch's thread count right after a fresh interpreter imports course_utils.runtime."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COURSE_THREADS"}
    if env_threads is not None:
        env["COURSE_THREADS"] = env_threads
    code = "import torch; before = torch.get_num_threads(); import course_utils.runtime; print(before, torch.get_num_threads())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = map(int, result.stdout.split())
    return before, after


def test_thread_policy_applies_on_import_and_can_be_overridden():
    before, after = _threads_in_fresh_process()
    assert after == 1  # the policy: one thread
    assert _threads_in_fresh_process("2")[1] == 2
    assert _threads_in_fresh_process("torch") == (before, before)  # PyTorch's own default, untouched


def test_thread_policy_values(monkeypatch):
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    assert runtime.thread_policy() == 1
    monkeypatch.setenv("COURSE_THREADS", "3")
    assert runtime.thread_policy() == 3
    monkeypatch.setenv("COURSE_THREADS", "default")
    assert runtime.thread_policy() is None
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("COURSE_THREADS", bad)
        with pytest.raises(ValueError, match="COURSE_THREADS"):
            runtime.thread_policy()


def test_apply_thread_policy_sets_and_reports():
    previous = torch.get_num_threads()
    try:
        assert runtime.apply_thread_policy(2) == 2 == torch.get_num_threads()
        assert runtime.apply_thread_policy(1) == 1
        with pytest.raises(ValueError, match=">= 1"):
            runtime.apply_thread_policy(0)
    finally:
        torch.set_num_threads(previous)
