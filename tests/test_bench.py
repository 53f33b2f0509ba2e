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
