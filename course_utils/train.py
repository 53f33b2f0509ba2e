"""Training and evaluation loops for classifiers, in plain PyTorch.

One function per phase, as in torchvision's ``references/``:
:func:`train_one_epoch`, :func:`evaluate`, and :func:`fit`, which alternates
them and records a history for plotting. On CUDA the forward pass runs under
bfloat16 autocast (AMP) unless ``amp=False``.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

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
) -> dict[str, list[float]]:
    """Train for ``epochs``; return the history ``{"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"}``.

    ``optimizer`` defaults to Adam(lr=1e-3). With ``target_accuracy`` training
    stops after the first epoch whose validation accuracy reaches it.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=1e-3)
    history: dict[str, list[float]] = {k: [] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")}
    bar = tqdm(range(epochs), desc="epochs", disable=not progress)
    for _ in bar:
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
        else:
            bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['accuracy']:.3f}")
    return history
