"""Shipped checkpoints: records with provenance and measured quality, SHA-256 checks, clear errors, rebuilding."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch
from torch import nn

from course_utils import checkpoints as C

RECORD_FIELDS = {"name", "file", "sha256", "bytes", "model", "script", "arguments", "commit", "seed", "data", "epochs",
                 "device", "wall_time_s", "quality"}


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    return [float(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


@pytest.mark.parametrize("name", sorted(C.REGISTRY))
def test_every_registered_checkpoint_ships_with_a_complete_record(name):
    record = C.verify(name)
    assert RECORD_FIELDS <= set(record), f"{name}: record lacks {sorted(RECORD_FIELDS - set(record))}"
    assert record["script"] == f"python -m course_utils.checkpoints build {name}"
    assert record["arguments"] == C.REGISTRY[name].train_kwargs and record["seed"] == C.REGISTRY[name].seed
    assert record["model"] == {"class": C.REGISTRY[name].model, "kwargs": C.REGISTRY[name].model_kwargs}
    assert len(record["commit"]) >= 40 and record["epochs"] >= 1 and record["wall_time_s"] > 0
    assert "MNIST" in record["data"] and ("fallback" in record["data"] or "full MNIST" in record["data"])
    assert _numbers(record["quality"]), f"{name}: the record holds no measured quality"
    assert record["bytes"] == C.weights_path(name).stat().st_size <= C.MAX_BYTES


def test_all_checkpoints_fit_the_course_budget():
    total = sum(C.weights_path(n).stat().st_size for n in C.shipped())
    assert total <= C.MAX_TOTAL_BYTES, f"checkpoints take {total / 2**20:.1f} MB"
    assert set(C.shipped()) == set(C.REGISTRY), "every shipped file has a recipe and every recipe a shipped file"


def test_load_restores_the_saved_weights_and_says_so(capsys):
    model = C.load("vae_mnist")
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0 and "vae_mnist" in line and "python -m course_utils.checkpoints build vae_mnist" in line
    state = torch.load(C.weights_path("vae_mnist"), weights_only=True)
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.fixture
def weights_copy(tmp_path, monkeypatch):
    """The weights folder copied to a scratch folder that the module reads instead."""
    folder = tmp_path / "weights"
    shutil.copytree(C.WEIGHTS_DIR, folder)
    monkeypatch.setattr(C, "WEIGHTS_DIR", folder)
    return folder


def test_missing_file_is_a_clear_error(weights_copy):
    (weights_copy / "ae_mnist.pt").unlink()
    with pytest.raises(C.CheckpointError, match=r"ae_mnist\.pt is missing.*build ae_mnist"):
        C.load("ae_mnist")


def test_altered_file_is_a_clear_error(weights_copy):
    path = weights_copy / "ae_mnist.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(C.CheckpointError, match="has been altered"):
        C.load("ae_mnist")


def test_unknown_and_broken_records_are_clear_errors(weights_copy):
    with pytest.raises(C.CheckpointError, match="known checkpoints: .*vae_mnist"):
        C.load("no_such_model")
    (weights_copy / "ae_mnist.json").write_text("{not json")
    with pytest.raises(C.CheckpointError, match="not valid JSON"):
        C.load("ae_mnist")


def _toy_trainer(model: nn.Module, seed: int, device=None, progress: bool = False, steps: int = 5) -> dict:
    torch.manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 2)
    y = x @ torch.tensor([[1.0], [-2.0]])
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    loss = loss.detach()
    return {"data": "64 random points", "epochs": steps, "wall_time_s": 0.01, "quality": {"mse": loss.item()}}


TOY = C.Recipe(name="toy", description="a linear model", model="torch.nn:Linear",
               model_kwargs={"in_features": 2, "out_features": 1}, trainer="test_checkpoints:_toy_trainer",
               train_kwargs={"steps": 5}, seed=3)


@pytest.fixture
def toy_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setattr(C, "REGISTRY", {"toy": TOY})
    return tmp_path / "weights"


def test_build_writes_weights_and_a_record_that_load_verifies(toy_registry, capsys):
    record = C.build("toy", device="cpu", progress=False)
    saved = json.loads((toy_registry / "toy.json").read_text())
    assert saved == record and RECORD_FIELDS <= set(record)
    assert record["arguments"] == {"steps": 5} and record["seed"] == 3 and record["quality"]["mse"] >= 0
    assert record["device"].startswith("cpu")
    model = C.load("toy")
    again, _ = TOY.train(device="cpu")
    assert torch.equal(model.weight, again.weight), "the recipe is deterministic for its seed"
    assert C.main(["verify"]) == 0 and "toy: ok" in capsys.readouterr().out


def test_build_refuses_oversized_checkpoints(toy_registry, monkeypatch):
    monkeypatch.setattr(C, "MAX_BYTES", 100)
    with pytest.raises(C.CheckpointError, match="limit is"):
        C.build("toy", device="cpu", progress=False)
    assert not list(toy_registry.glob("toy.pt*")), "nothing half-written is left behind"


def test_register_rejects_a_different_recipe_under_a_taken_name(toy_registry):
    C.register(TOY)  # the same recipe again is fine
    with pytest.raises(C.CheckpointError, match="already registered"):
        C.register(C.Recipe(name="toy", description="other", model="torch.nn:Linear", trainer="x:y"))


def test_train_or_load_trains_on_the_gpu_budget_and_loads_elsewhere(toy_registry, monkeypatch, capsys):
    C.build("toy", device="cpu", progress=False)
    import course_utils.runtime as runtime

    monkeypatch.setattr(runtime, "run_mode", lambda device=None: "cpu")
    C.train_or_load("toy", device="cpu")
    assert "Loaded the shipped checkpoint 'toy'" in capsys.readouterr().out
    monkeypatch.setattr(runtime, "run_mode", lambda device=None: "gpu")
    trained = C.train_or_load("toy", device="cpu")
    assert "Training 'toy' fully" in capsys.readouterr().out and isinstance(trained, nn.Linear)


def test_command_line_rejects_unknown_names():
    result = subprocess.run([sys.executable, "-m", "course_utils.checkpoints", "build", "no_such_model"],
                            capture_output=True, text=True, cwd=C.WEIGHTS_DIR.parent.parent)
    assert result.returncode == 2 and "unknown checkpoint(s) no_such_model" in result.stderr


def test_the_package_ships_the_weights(tmp_path):
    """A pip install from git (Colab) must get the checkpoints: they are package data in the wheel."""
    root = C.WEIGHTS_DIR.parent.parent
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    shutil.copytree(root / "course_utils", source / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"),
                    str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in C.shipped():
        assert f"course_utils/weights/{name}.pt" in names and f"course_utils/weights/{name}.json" in names
    for path in (C.WEIGHTS_DIR / "ablations").glob("*.json"):  # recorded ablations (no weights) travel with them
        assert f"course_utils/weights/ablations/{path.name}" in names
