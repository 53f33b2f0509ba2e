"""The training-speed benchmark runs end to end (tiny settings; the numbers come from bench/, not here)."""

import json
import os
import subprocess
import sys

import pytest

import nbtools


@pytest.mark.notebooks
def test_train_speed_benchmark_smoke(tmp_path, data_root):
    out = tmp_path / "result.json"
    result = subprocess.run(
        [sys.executable, str(nbtools.ROOT / "bench" / "train_speed.py"), "--limit", "256", "--max-epochs", "1",
         "--target", "0.05", "--device", "cpu", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COURSE_DATA_DIR": str(data_root)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["reference"]["epochs"] == 1 and summary["baseline"]["epochs"] == 1
    assert summary["train_size"] == 256 and summary["speedup"] > 0
    assert "speed-up" in result.stdout


@pytest.mark.grading
def test_grading_throughput_benchmark_smoke(tmp_path):
    """Three submissions (correct, partly wrong, broken), graded both ways; the two gradebooks must agree."""
    out = tmp_path / "grading.json"
    env = {k: v for k, v in os.environ.items() if k not in {"COURSE_GRADING_DIR", "COURSE_GRADEBOOK_URL"}}
    result = subprocess.run(
        [sys.executable, str(nbtools.ROOT / "bench" / "grading_throughput.py"), "--submissions", "3", "--workers", "2",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["kinds"] == {"correct": 1, "partly_wrong": 1, "broken": 1}
    assert summary["same_scores"] is True
    run = summary["runs"][0]
    assert run["serial"]["per_minute"] > 0 and run["parallel"]["per_minute"] > 0 and run["ratio"] > 0
    scores = run["scores"]
    assert scores["s00_correct"] > scores["s01_partly_wrong"] > scores["s02_broken"]
    assert "speed-up" in result.stdout


@pytest.mark.notebooks
def test_thread_benchmark_smoke(tmp_path, data_root):
    """One chapter at the test budget with one thread: the run is timed and the load around it recorded."""
    out = tmp_path / "threads.json"
    result = subprocess.run(
        [sys.executable, str(nbtools.ROOT / "bench" / "threads.py"), "--what", "chapters", "--chapters", "02",
         "--budget", "fast", "--threads", "1", "--repeats", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "COURSE_DATA_DIR": str(data_root)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(out.read_text())
    (record,) = summary["runs"]["chapter 02_activations (fast budget)"]["1"]
    assert record["wall_s"] > 0 and record["cpu_s"] > 0 and record["others_busy_cores"] >= 0
    assert summary["budget"] == "fast" and "02_activations" in result.stdout
