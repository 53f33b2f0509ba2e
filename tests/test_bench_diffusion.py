"""The diffusion benchmark runs end to end (tiny settings; the numbers come from bench/, not from here)."""

import json
import os
import subprocess
import sys

import pytest

import nbtools

BENCH = nbtools.ROOT / "bench" / "diffusion.py"


def _run(tmp_path, data_root, *args: str, timeout: int = 600) -> dict:
    out = tmp_path / "result.json"
    result = subprocess.run([sys.executable, str(BENCH), "--out", str(out), *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "COURSE_DATA_DIR": str(data_root)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "class accuracy" in result.stdout
    return json.loads(out.read_text())


@pytest.mark.notebooks
def test_diffusion_benchmark_smoke(tmp_path, data_root):
    summary = _run(tmp_path, data_root, "--device", "cpu", "--limit", "256", "--max-steps", "6", "--eval-every", "3",
                   "--per-class", "1", "--sampling-steps", "2", "--target", "0.0")
    assert summary["reached"] and summary["steps"] == 3, "a target of 0 is reached at the first evaluation"
    assert summary["train_seconds_to_target"] > 0 and summary["eval_seconds"] > 0
    assert summary["settings"]["bf16"] is False and summary["threads"] == 1
    assert "MNIST" in summary["data"] and summary["final_quality"]["samples"] == 10
    unreachable = _run(tmp_path, data_root, "--device", "cpu", "--limit", "64", "--max-steps", "2", "--eval-every", "5",
                       "--per-class", "1", "--sampling-steps", "1", "--target", "1.01")
    assert not unreachable["reached"] and unreachable["steps"] == 2 and len(unreachable["evaluations"]) == 1


@pytest.mark.gpu
def test_diffusion_benchmark_gpu_path(tmp_path, data_root):
    """bf16 autocast, channels-last and torch.compile on CUDA, data on the device."""
    summary = _run(tmp_path, data_root, "--device", "cuda", "--compile", "--limit", "2048", "--max-steps", "40",
                   "--eval-every", "20", "--per-class", "2", "--sampling-steps", "5", "--target", "0.0")
    assert summary["settings"]["bf16"] and summary["settings"]["channels_last"] and summary["settings"]["compile"]
    assert summary["reached"] and summary["steps"] == 20
