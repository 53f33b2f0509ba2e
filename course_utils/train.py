"""Training and evaluation loops for classifiers, in plain PyTorch.

One function per phase, as in torchvision's ``references/``:
:func:`train_one_epoch`, :func:`evaluate`, and :func:`fit`, which alternates
them, records a history for plotting and can stop early
(:class:`EarlyStopping`). On CUDA the forward pass runs under bfloat16
autocast (AMP) unless ``amp=False``.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.grading import reference

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_one_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable = nn.functional.cross_entropy,
    device: torch.device | str = "cpu",
    amp: bool = True,
    progress: bool = False,
    desc: str = "train",
) -> dict[str, float]:
    """One pass over ``batches``; returns the mean loss and accuracy seen during training."""
    device = torch.device(device)
    model.train()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for inputs, targets in tqdm(batches, desc=desc, leave=False, disable=not progress):
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with _autocast(device, amp):
            logits = model(inputs)  # (B, n_classes)
            loss = loss_fn(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        # accumulate on the device: no host sync per batch
        total_loss += loss.detach() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum()
        seen += len(targets)
    if seen == 0:
        raise ValueError("train_one_epoch got no batches")
    return {"loss": total_loss.item() / seen, "accuracy": correct.item() / seen}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Batches,
    loss_fn: Callable = nn.functional.cross_entropy,
    device: torch.device | str = "cpu",
    amp: bool = True,
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``batches``, in eval mode."""
    device = torch.device(device)
    model.eval()
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for inputs, targets in batches:
        inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
        with _autocast(device, amp):
            logits = model(inputs)
            loss = loss_fn(logits.float(), targets)
        total_loss += loss * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum()
        seen += len(targets)
    if seen == 0:
        raise ValueError("evaluate got no batches")
    return {"loss": total_loss.item() / seen, "accuracy": correct.item() / seen}


@reference
class EarlyStopping:
    """Stop when a validation metric has not improved for ``patience`` epochs, keeping the best weights.

    ``mode="min"`` for a loss, ``"max"`` for an accuracy. An epoch counts as an
    improvement when it beats the best value so far by more than ``min_delta``.
    """

    def __init__(self, patience: int, mode: str = "min", min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        if mode not in {"min", "max"}:
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.mode, self.min_delta = patience, mode, min_delta
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0  # 1-based; 0 until the first step
        self.best_state: dict[str, torch.Tensor] | None = None
        self.epochs_without_improvement = 0

    def step(self, value: float, model: nn.Module, epoch: int) -> bool:
        """Record epoch ``epoch`` (1-based) with metric ``value``; True when training should stop."""
        improved = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if improved:
            self.best, self.best_epoch, self.epochs_without_improvement = value, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.epochs_without_improvement += 1
        return self.epochs_without_improvement >= self.patience

    def restore(self, model: nn.Module) -> None:
        """Load the best weights seen into ``model``."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.restore: no epoch has been recorded yet")
        model.load_state_dict(self.best_state)


def fit(
    model: nn.Module,
    train_batches: Batches,
    val_batches: Batches | None = None,
    epochs: int = 1,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable = nn.functional.cross_entropy,
    device: torch.device | str | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    amp: bool = True,
    progress: bool = True,
    target_accuracy: float | None = None,
    patience: int | None = None,
    monitor: str = "val_loss",
    restore_best: bool = True,
) -> dict[str, Any]:
    """Train for ``epochs``; return the history ``{"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}``.

    ``optimizer`` defaults to Adam(lr=1e-3). With ``target_accuracy`` training
    stops after the first epoch whose validation accuracy reaches it. With
    ``patience`` it stops early (:class:`EarlyStopping`) once ``monitor``
    (``"val_loss"`` or ``"val_accuracy"``) has not improved for ``patience``
    epochs, loads the best epoch's weights back when ``restore_best``, and adds
    ``"best_epoch"`` and ``"stopped_epoch"`` (1-based; ``None`` if it never stopped) to the history.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    history: dict[str, Any] = {k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")}
    stopper = None
    if patience is not None:
        if val_batches is None:
            raise ValueError("early stopping (patience) needs val_batches to monitor")
        if monitor not in {"val_loss", "val_accuracy"}:
            raise ValueError(f"monitor must be 'val_loss' or 'val_accuracy', got {monitor!r}")
        stopper = EarlyStopping(patience, mode="min" if monitor == "val_loss" else "max")
        history["best_epoch"], history["stopped_epoch"] = None, None
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for epoch in bar:
        history["lr"].append(optimizer.param_groups[0]["lr"])
        stats = train_one_epoch(model, train_batches, optimizer, loss_fn, device, amp)
        history["train_loss"].append(stats["loss"])
        history["train_accuracy"].append(stats["accuracy"])
        if scheduler is not None:
            scheduler.step()
        if val_batches is not None:
            val = evaluate(model, val_batches, loss_fn, device, amp)
            history["val_loss"].append(val["loss"])
            history["val_accuracy"].append(val["accuracy"])
            bar.set_postfix(loss=f"{stats['loss']:.3f}", val_acc=f"{val['accuracy']:.3f}")
            if target_accuracy is not None and val["accuracy"] >= target_accuracy:
                break
            if stopper is not None and stopper.step(history[monitor][-1], model, epoch + 1):
                history["stopped_epoch"] = epoch + 1
                break
        else:
            bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['accuracy']:.3f}")
    if stopper is not None:
        history["best_epoch"] = stopper.best_epoch
        if restore_best and stopper.best_state is not None:
            stopper.restore(model)
    return history
