"""Trained weights that ship with the course, each with a record of how it was made.

On a laptop CPU a chapter's minute cannot train a generative model to good samples. So a chapter trains
for its budget (the loss falls, early samples are shown) and then loads a checkpoint that this
repository's own training code produced, saying so in one line. On a GPU the chapters train fully instead.

* Every checkpoint is a :class:`Recipe` in :data:`REGISTRY`: a name, the model (class and arguments) and
  the training function with its arguments. Later chapters add their models with :func:`register`.
* ``python -m course_utils.checkpoints build [NAME ...]`` (or ``make checkpoints``) runs the recipes and
  writes ``course_utils/weights/NAME.pt`` (the ``state_dict``, at most 5 MB; 25 MB for the whole course) and
  ``NAME.json``: the command and arguments, the commit, the seed, the data (full MNIST or the offline
  fallback), epochs, device, wall time, the measured quality and the file's SHA-256.
* :func:`load` rebuilds the model, checks the file against the SHA-256 in its record and loads the weights,
  with a clear error when the file is missing or altered. Nothing is ever downloaded.
* :func:`train_or_load` is what chapters call: full training on a GPU, the shipped weights elsewhere.

``python -m course_utils.checkpoints list`` shows the records; ``verify`` checks every file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MAX_BYTES = 5 * 1024 * 1024  # one checkpoint
MAX_TOTAL_BYTES = 25 * 1024 * 1024  # all of them together
SCRIPT = "python -m course_utils.checkpoints build"


class CheckpointError(RuntimeError):
    """A checkpoint is unknown, missing, altered or too large."""


@dataclass(frozen=True)
class Recipe:
    """How to make one checkpoint: ``trainer(model, seed=..., **train_kwargs) -> record fields``.

    ``model`` and ``trainer`` are ``"module:attribute"`` strings, imported only when needed, so that the
    registry costs nothing to import. The trainer returns a dict with at least ``data``, ``epochs``,
    ``wall_time_s`` and ``quality``.
    """

    name: str
    description: str
    model: str
    trainer: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    train_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def build_model(self) -> nn.Module:
        return _import(self.model)(**self.model_kwargs)

    def train(self, device: torch.device | str | None = None, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
        """Build a fresh model and train it with the recipe; return it (on the CPU, eval mode) and the trainer's fields."""
        from course_utils.runtime import seed_everything

        seed_everything(self.seed)  # the initial weights belong to the recipe too
        model = self.build_model()
        info = _import(self.trainer)(model, seed=self.seed, device=device, progress=progress, **self.train_kwargs)
        missing = {"data", "epochs", "wall_time_s", "quality"} - set(info)
        if missing:
            raise CheckpointError(f"{self.trainer} returned no {sorted(missing)} for checkpoint {self.name!r}")
        return model.cpu().eval(), info


REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a checkpoint recipe (chapters 9-11 add theirs next to the model code they train)."""
    if recipe.name in REGISTRY and REGISTRY[recipe.name] != recipe:
        raise CheckpointError(f"a different checkpoint recipe named {recipe.name!r} is already registered")
    REGISTRY[recipe.name] = recipe
    return recipe


def _import(target: str) -> Callable:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


# ------------------------------------------------------------------ the course's checkpoints
register(Recipe(
    name="digit_classifier",
    description="MNIST digit classifier that scores generated digits (course_utils.generative)",
    model="course_utils.models.cnn:MNISTNet", model_kwargs={"width": 16},
    trainer="course_utils.generative:train_digit_classifier", train_kwargs={"epochs": 12},
))
register(Recipe(
    name="vae_mnist",
    description="convolutional VAE, 16-dimensional latent space, Bernoulli decoder (chapter 8)",
    model="course_utils.models.vae:VAE", model_kwargs={"latent_dim": 16, "width": 32},
    trainer="course_utils.models.vae:train_vae_checkpoint", train_kwargs={"epochs": 40},
))
register(Recipe(
    name="vae_mnist_2d",
    description="convolutional VAE with a 2-dimensional latent space, for the latent map (chapter 8)",
    model="course_utils.models.vae:VAE", model_kwargs={"latent_dim": 2, "width": 32},
    trainer="course_utils.models.vae:train_vae_checkpoint", train_kwargs={"epochs": 40},
))
register(Recipe(
    name="ae_mnist",
    description="convolutional autoencoder, 16-dimensional code, for AE vs VAE sampling (chapter 8)",
    model="course_utils.models.autoencoder:ConvAutoencoder", model_kwargs={"latent_dim": 16, "width": 32},
    trainer="course_utils.models.autoencoder:train_autoencoder_checkpoint", train_kwargs={"epochs": 40},
))
register(Recipe(
    name="dcgan_mnist",
    description="DCGAN (transposed convolutions, batch norm, non-saturating losses), 64-dimensional noise (chapter 9)",
    model="course_utils.models.gan:DCGAN", model_kwargs={"latent_dim": 64, "width": 32},
    trainer="course_utils.models.gan:train_dcgan_checkpoint", train_kwargs={"epochs": 30},
))
register(Recipe(
    name="ddpm_mnist",
    description="class-conditional DDPM (small U-Net, linear schedule, T = 1000, classifier-free guidance) (chapter 11)",
    model="course_utils.models.diffusion:DDPM", model_kwargs={"schedule": "linear", "T": 1000, "width": 32},
    trainer="course_utils.models.diffusion:train_ddpm_checkpoint",
    train_kwargs={"steps": 2000, "batch_size": 64, "lr": 2e-3, "per_class": 50, "sampling_steps": 50},
))

register(Recipe(
    name="caption_encoder",
    description="text embedding phi_t of the generated digit captions (embedding + bidirectional GRU, 32-d), trained "
                "from scratch with an image encoder by a matching loss (chapter 10)",
    model="course_utils.captions:CaptionEncoder", model_kwargs={"vocab_size": 55, "embed_dim": 32},
    trainer="course_utils.captions:train_caption_encoder_checkpoint", train_kwargs={"epochs": 30},
))
register(Recipe(
    name="stackgan_stage1",
    description="StackGAN Stage-I: 14x14 digits from noise and phi_t, conditioning augmentation, matching-aware "
                "discriminator (chapter 10)",
    model="course_utils.models.stackgan:StackGANStageI", model_kwargs={"embed_dim": 32, "cond_dim": 16, "noise_dim": 32, "width": 32},
    trainer="course_utils.models.stackgan:train_stage1_checkpoint", train_kwargs={"epochs": 60},
))
register(Recipe(
    name="stackgan_stage1_no_ca",
    description="StackGAN Stage-I without conditioning augmentation (c = mu(phi_t), no KL term), the ablation's "
                "weights, same budget and seed as stackgan_stage1 (chapter 10)",
    model="course_utils.models.stackgan:StackGANStageI",
    model_kwargs={"embed_dim": 32, "cond_dim": 16, "noise_dim": 32, "width": 32, "augment": False},
    trainer="course_utils.models.stackgan:train_stage1_checkpoint", train_kwargs={"epochs": 60, "kl_weight": 0.0},
))
register(Recipe(
    name="stackgan_stage2",
    description="StackGAN Stage-II: 28x28 digits from the frozen Stage-I's 14x14 output and phi_t (encoder, residual "
                "blocks, decoder), matching-aware discriminator (chapter 10)",
    model="course_utils.models.stackgan:StackGANStageII", model_kwargs={"embed_dim": 32, "cond_dim": 16, "width": 32, "n_residual": 2},
    trainer="course_utils.models.stackgan:train_stage2_checkpoint", train_kwargs={"epochs": 15},
))

# ------------------------------------------------------------------ records and loading
def weights_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.pt"


def record_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_record(name: str) -> dict[str, Any]:
    """The JSON record of a shipped checkpoint."""
    path = record_path(name)
    if not path.is_file():
        known = sorted({p.stem for p in WEIGHTS_DIR.glob("*.json")} | set(REGISTRY))
        raise CheckpointError(f"no checkpoint record {path}; known checkpoints: {', '.join(known) or 'none'}. "
                              f"Build it with `{SCRIPT} {name}`.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint record {path} is not valid JSON ({err}); rebuild it with `{SCRIPT} {name}`") from None


def verify(name: str) -> dict[str, Any]:
    """Check that ``NAME.pt`` exists and matches the SHA-256 and size in its record; return the record."""
    record = read_record(name)
    path = weights_path(name)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing (its record {record_path(name).name} is there); "
                              f"restore it from the repository or rebuild it with `{SCRIPT} {name}`")
    actual = sha256(path)
    if actual != record.get("sha256"):
        raise CheckpointError(f"checkpoint file {path} has been altered: its SHA-256 is {actual[:16]}..., the record says "
                              f"{str(record.get('sha256'))[:16]}...; restore it from the repository or rebuild it with "
                              f"`{SCRIPT} {name}`")
    return record


def _model_from_record(record: dict[str, Any]) -> nn.Module:
    spec = record.get("model", {})
    return _import(spec["class"])(**spec.get("kwargs", {}))


def describe(record: dict[str, Any]) -> str:
    """One line: what was loaded and how it was made."""
    return (f"Loaded the shipped checkpoint '{record['name']}' (trained by `{record['script']}`: {record['epochs']} epochs "
            f"on the {record['data'].split(':')[0]}, {record['device']}, {record['wall_time_s']:.0f} s; "
            f"record: course_utils/weights/{record['name']}.json).")


def load(name: str, device: torch.device | str | None = None, verbose: bool = True) -> nn.Module:
    """The shipped model ``name``, verified against its SHA-256, on ``device`` in eval mode; prints one line if ``verbose``."""
    record = verify(name)
    model = _model_from_record(record)
    state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if device is not None:
        model.to(device)
    if verbose:
        print(describe(record))
    return model.eval()


def train_or_load(name: str, device: torch.device | str | None = None, verbose: bool = True) -> nn.Module:
    """What a chapter calls: on a GPU (the ``gpu`` budget) train the recipe fully; elsewhere load the shipped weights."""
    from course_utils.runtime import run_mode

    if run_mode(device) == "gpu":
        recipe = REGISTRY[name]
        if verbose:
            print(f"Training '{name}' fully on the GPU with its recipe ({recipe.train_kwargs}) instead of loading it.")
        model, _ = recipe.train(device=device, progress=verbose)
        return model.to(device)
    return load(name, device=device, verbose=verbose)


# ------------------------------------------------------------------ building
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=WEIGHTS_DIR.parent, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def build(name: str, device: torch.device | str | None = None, progress: bool = True) -> dict[str, Any]:
    """Train checkpoint ``name`` with its recipe, write ``NAME.pt`` and ``NAME.json``, and return the record."""
    from course_utils.runtime import get_device

    if name not in REGISTRY:
        raise CheckpointError(f"unknown checkpoint {name!r}; registered: {', '.join(sorted(REGISTRY))}")
    recipe = REGISTRY[name]
    device = torch.device(device) if device is not None else get_device()
    commit = _git("rev-parse", "HEAD") or "unknown (not a git checkout)"
    changed = bool(_git("status", "--porcelain", "--", ".", f":!{WEIGHTS_DIR.name}"))
    start = time.perf_counter()
    model, info = recipe.train(device=device, progress=progress)
    total_wall = time.perf_counter() - start
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    tmp = weights_path(name).with_suffix(".pt.tmp")
    torch.save(model.state_dict(), tmp)
    size = tmp.stat().st_size
    if size > MAX_BYTES:
        tmp.unlink()
        raise CheckpointError(f"checkpoint {name!r} would take {size / 2**20:.1f} MB; the limit is {MAX_BYTES / 2**20:.0f} MB")
    others = sum(weights_path(n).stat().st_size for n in shipped() if n != name)
    if others + size > MAX_TOTAL_BYTES:
        tmp.unlink()
        raise CheckpointError(f"all checkpoints together would take {(others + size) / 2**20:.1f} MB; "
                              f"the limit is {MAX_TOTAL_BYTES / 2**20:.0f} MB")
    tmp.replace(weights_path(name))
    record = {
        "name": name,
        "description": recipe.description,
        "file": weights_path(name).name,
        "sha256": sha256(weights_path(name)),
        "bytes": size,
        "model": {"class": recipe.model, "kwargs": recipe.model_kwargs},
        "script": f"{SCRIPT} {name}",
        "trainer": recipe.trainer,
        "arguments": recipe.train_kwargs,
        "seed": recipe.seed,
        "commit": commit + (" (with uncommitted changes in course_utils)" if changed else ""),
        "data": info["data"],
        "epochs": info["epochs"],
        "device": _device_name(device),
        "wall_time_s": info["wall_time_s"],
        "total_time_s": round(total_wall, 1),
        "quality": info["quality"],
        "train_history": info.get("train_history", {}),
        "torch": torch.__version__,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    record_path(name).write_text(json.dumps(record, indent=2) + "\n")
    return record


def shipped() -> list[str]:
    """Names of the checkpoints present in the weights folder."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))


# Recipes that others use, in the order they must be built: the digit classifier measures every generator's samples,
# the StackGAN stages read captions through the caption encoder, and Stage-II draws on a trained Stage-I.
PREREQUISITES = ("digit_classifier", "caption_encoder", "stackgan_stage1", "stackgan_stage1_no_ca", "stackgan_stage2")


def build_order(names: list[str]) -> list[str]:
    """Prerequisites first, in :data:`PREREQUISITES` order; the others after them in the order given."""
    return sorted(names, key=lambda n: PREREQUISITES.index(n) if n in PREREQUISITES else len(PREREQUISITES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.checkpoints", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="train checkpoints with their recipes and write weights + records")
    build_cmd.add_argument("names", nargs="*", help=f"checkpoints to build (default: all: {', '.join(sorted(REGISTRY))})")
    build_cmd.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    commands.add_parser("list", help="show every record")
    commands.add_parser("verify", help="check every shipped file against its SHA-256")
    args = parser.parse_args(argv)
    if args.command == "build":
        names = args.names or list(REGISTRY)
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            parser.error(f"unknown checkpoint(s) {', '.join(unknown)}; registered: {', '.join(sorted(REGISTRY))}")
        for name in build_order(names):
            print(f"== building {name}")
            record = build(name, device=args.device)
            print(f"   {record['bytes'] / 1024:.0f} KB, {record['wall_time_s']:.0f} s on {record['device']}, "
                  f"{record['data']}; quality {json.dumps(record['quality'])}")
        return 0
    names = sorted(set(shipped()) | {p.stem for p in WEIGHTS_DIR.glob("*.json")})
    failed = 0
    for name in names:
        try:
            record = verify(name)
        except CheckpointError as err:
            print(f"{name}: {err}")
            failed += 1
            continue
        if args.command == "list":
            print(f"{name}: {record['bytes'] / 1024:.0f} KB, {record['epochs']} epochs, {record['data']}, {record['device']}, "
                  f"{record['wall_time_s']:.0f} s, commit {record['commit'][:12]}; quality {json.dumps(record['quality'])}")
        else:
            print(f"{name}: ok")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
