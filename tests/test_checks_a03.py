"""course_utils.checks.a03_cnn_98: the solution passes each check, and each check refuses what it is there to refuse.

Fast checks of the test helpers themselves (the round trip through nbgrader is in test_assignments.py):
the limits refuse every forbidden way in, the oracles agree with PyTorch, and the probe networks catch
the mistakes they were built for.
"""

from __future__ import annotations

import copy
import re

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nbgrader_harness as H
from nbtools import exec_as_cell
from course_utils.checks import a03_cnn_98 as C

ASSIGNMENT = "a03_cnn_98"


def _solution_namespace() -> dict:
    """The solution's graded functions, defined from the solution notebook as a student's cells would define them."""
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    namespace = {"copy": copy, "np": np, "torch": torch, "F": F, "nn": nn, "MAX_EPOCHS": 20}
    from tqdm.auto import tqdm

    namespace["tqdm"] = tqdm
    for grade_id in ("conv_output_size", "build_model", "evaluate_accuracy", "train_model"):
        exec_as_cell(H.strip_solution_markers(cells[grade_id]), namespace, grade_id)
    return namespace


@pytest.fixture(scope="module")
def solution():
    torch.set_num_threads(1)
    return _solution_namespace()


def _rng():
    return np.random.default_rng(1234)


def test_settings_cell_matches_the_checks(monkeypatch):
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "settings")
    from course_utils.runtime import budget

    for fast in ("1", ""):
        monkeypatch.setenv("COURSE_FAST", fast)
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
        namespace = {"budget": budget}
        exec(source, namespace)
        assert (namespace["VAL_SIZE"], namespace["EXPERIMENT_TRAIN_SIZE"], namespace["EXPERIMENT_EPOCHS"]) == C.experiment_settings()
        assert namespace["EXPERIMENT_SEED"] == C.EXPERIMENT_SEED
        assert namespace["MAX_EPOCHS"] == C.MAX_EPOCHS


def test_conv_checks(solution):
    conv = solution["conv_output_size"]
    C.check_conv_sizes(conv, C.SIZE_GRID + C.DILATED_CASES + C.LARGE_STRIDE_CASES + C.random_conv_cases(_rng()), "all")
    C.check_conv_raises(conv, C.ERROR_CASES + C.random_conv_error_cases(_rng()))
    C.check_conv_defaults(conv, C.random_conv_cases(_rng(), 10))
    for case in C.random_conv_cases(_rng(), 50):
        assert C.pytorch_output_size(*case) == (case[0] + 2 * case[2] - case[4] * (case[1] - 1) - 1) // case[3] + 1

    def notes_formula(n, f, p=0, s=1, d=1):
        return (n + 2 * p - f + 1) // s

    def measured_with_torch(n, f, p=0, s=1, d=1):
        return int(nn.Conv1d(1, 1, f, s, p, d)(torch.zeros(1, 1, n)).shape[-1])

    def wrong_default(n, f, p=1, s=1, d=1):
        return conv(n, f, p, s, d)

    with pytest.raises(AssertionError, match="PyTorch's Conv1d produces"):
        C.check_conv_sizes(notes_formula, C.SIZE_GRID, "grid")
    with pytest.raises(AssertionError, match="no PyTorch"):
        C.check_conv_sizes(measured_with_torch, C.MNIST_LAYER_CASES, "layers")
    with pytest.raises(AssertionError, match="defaults"):
        C.check_conv_defaults(wrong_default, C.random_conv_cases(_rng(), 10))


def test_model_checks(solution):
    build_model = solution["build_model"]
    model = C.build(build_model, "cpu")
    C.check_model_structure(model)
    C.check_model_outputs(model, _rng(), "cpu")
    C.check_fresh_models(model, C.build(build_model, "cpu"))
    C.check_holds_no_data(model)
    C.check_not_mnistnet(model)
    assert C.check_untrained(build_model, _rng()) <= C.CHANCE_CEILING

    from course_utils.models.cnn import MNISTNet

    with pytest.raises(AssertionError, match="MNISTNet"):
        C.build(lambda: nn.Sequential(MNISTNet(width=8)), "cpu")
    with pytest.raises(AssertionError, match="exactly the layers"):
        C.check_not_mnistnet(_rebuilt_like_mnistnet(8))

    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 10, 28)
            self.stash = torch.zeros(100, 1, 28, 28)

        def forward(self, x):
            return self.conv(x).flatten(1)

    with pytest.raises(AssertionError, match="no data"):
        C.check_holds_no_data(Holder())

    trained = C.build(build_model, "cpu")
    images, labels, _ = C.mnist_split(train=True)
    optimiser = torch.optim.Adam(trained.parameters(), lr=2e-3)
    trained.train()
    for start in range(0, 1000, 50):
        loss = F.cross_entropy(trained(images[start:start + 50]), labels[start:start + 50])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with pytest.raises(AssertionError, match="untrained"):
        C.check_untrained(lambda: trained, _rng())


def _rebuilt_like_mnistnet(width):
    """MNISTNet's layers rebuilt in a Sequential, names changed."""
    block = lambda c_in, c_out: [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),  # noqa: E731
                                 nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                                 nn.MaxPool2d(2)]
    return nn.Sequential(*block(1, width), *block(width, 2 * width), nn.Flatten(), nn.Dropout(0.25),
                         nn.Linear(2 * width * 49, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def test_evaluate_accuracy_checks(solution):
    evaluate_accuracy = solution["evaluate_accuracy"]
    for n, fraction, batch_size in [(250, 0.7, None), (1234, 0.35, None), (500, 0.5, 64), (7, 4 / 7, 3)]:
        C.check_evaluate_accuracy(evaluate_accuracy, _rng(), n, fraction, "cpu", batch_size)

    def with_graph(model, images, labels, batch_size=1000):
        model.eval()
        return sum((model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum().item()
                   for i in range(0, len(labels), batch_size)) / len(labels)

    def one_batch(model, images, labels, batch_size=1000):
        model.eval()
        with torch.no_grad():
            return (model(images).argmax(1) == labels).float().mean().item()

    with pytest.raises(AssertionError, match="no_grad"):
        C.check_evaluate_accuracy(with_graph, _rng(), 250, 0.7, "cpu")
    with pytest.raises(AssertionError, match="batches of"):
        C.check_evaluate_accuracy(one_batch, _rng(), 1500, 0.7, "cpu")


def test_early_stopping_oracle_and_scripts():
    assert C.early_stopping_oracle(*C.EXAMPLE_SCRIPT) == (4, 1)
    assert C.early_stopping_oracle([0.1, 0.2, 0.3], 5, 3) == (3, 2)
    assert C.early_stopping_oracle([0.4] * 5, 1, 5) == (2, 0)
    assert C.early_stopping_oracle([0.5, 0.9, 0.6, 0.7], 2, 4) == (4, 1)  # patience exhausted exactly at max_epochs
    endings = {ending for *_, ending in C.random_scripts(np.random.default_rng(7))}
    assert len(endings) == 6


def test_train_model_checks(solution):
    train_model = solution["train_model"]
    C.check_signature(train_model)
    C.scripted_run(train_model, *C.EXAMPLE_SCRIPT, device="cpu")
    for script, patience, max_epochs, _ in C.random_scripts(_rng()):
        C.scripted_run(train_model, script, patience, max_epochs, "cpu")
    C.check_lr_scaling(train_model, _rng(), "cpu")
    C.check_blob_training(train_model, _rng(), "cpu")
    C.check_blob_training(train_model, _rng(), "cpu", max_epochs=10, blank_validation=True, patience=3)
    C.check_frozen_by_zero_lr(train_model, _rng(), "cpu")
    C.recording_run(train_model, _rng(), "cpu")
    C.recording_run(train_model, _rng(), "cpu", n_train=53, batch_size=7, lr=1e-2)
    C.check_shuffling(train_model, _rng(), "cpu")


def _variant(solution, old, new):
    """The solution's train_model with one line changed."""
    nb = nbformat.read(H.SOLUTIONS / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "train_model")
    source = H.strip_solution_markers(source)
    assert old in source
    namespace = dict(solution)
    exec_as_cell(source.replace(old, new), namespace, "variant")
    return namespace["train_model"]


@pytest.mark.parametrize("old,new,check,match", [
    ("        loss_sum = 0.0\n", "        loss_sum, n_batches = 0.0, 0\n", "recording", None),  # sanity: equivalent
    ("            loss_sum += loss.item() * len(batch)\n", "            loss_sum += loss.item() * batch_size\n", "recording", "train_loss"),
    ('        history["lr"].append(optimizer.param_groups[0]["lr"])\n', '        history["lr"].append(lr)\n', "recording", "history\\['lr'\\]"),
    ("        order = torch.randperm(n_train, generator=generator)", "        order = torch.randperm(n_train)", "shuffling", "seed"),
    ("    batch_size = 32 if batch_size is None else batch_size", "    batch_size = 32", "recording", "mini-batches"),
    ("        if val_accuracy > best_accuracy:", "        if val_accuracy >= best_accuracy:", "scripts", "strictly higher"),
    ("    model.load_state_dict(best_weights)\n", "    model.load_state_dict(best_weights) if len(history['val_accuracy']) < max_epochs else None\n",
     "scripts", "best epoch's weights"),
    ("    lr = 2e-3 if lr is None else lr", "    lr = 2e-3", "lr", "lr"),
    ("        model.train()\n", "        model.train()\n        train_images.mul_(1.0001)\n", "recording", "changed its argument"),
])
def test_train_model_checks_catch_mistakes(solution, old, new, check, match):
    train_model = _variant(solution, old, new)
    run = {
        "recording": lambda: C.recording_run(train_model, _rng(), "cpu"),
        "shuffling": lambda: C.check_shuffling(train_model, _rng(), "cpu"),
        "scripts": lambda: [C.scripted_run(train_model, s, p, m, "cpu") for s, p, m, _ in C.random_scripts(_rng())],
        "lr": lambda: C.check_lr_scaling(train_model, _rng(), "cpu"),
    }[check]
    if match is None:
        run()
    else:
        with pytest.raises(AssertionError, match=match):
            run()


@pytest.mark.parametrize("loader", ["load_mnist", "mnist_tensors", "torchvision", "open", "torch.load", "course_utils.train"])
def test_train_limits_refuse_every_way_to_other_data(solution, loader):
    train_model = solution["train_model"]

    def sneaky(model, train_images, train_labels, val_images, val_labels, **kwargs):
        from course_utils import data, train

        if loader == "load_mnist":
            data.load_mnist(train=False, verbose=False)
        elif loader == "mnist_tensors":
            data.mnist_tensors(_fake_dataset())
        elif loader == "torchvision":
            import torchvision

            torchvision.datasets.MNIST(str(data.data_dir()), train=False, download=False)
        elif loader == "open":
            with open(__file__) as handle:
                handle.read()
        elif loader == "torch.load":
            torch.load(__file__)
        else:
            train.evaluate(model, [(val_images, val_labels)])
        return train_model(model, train_images, train_labels, val_images, val_labels, **kwargs)

    train_images, train_labels, val_images, val_labels = C.blob_data(_rng(), "cpu")
    with pytest.raises(AssertionError, match="may not use"):
        C.call(sneaky, C.linear_network(_rng(), "cpu"), train_images, train_labels, val_images, val_labels, max_epochs=1,
               limits=C.TRAIN_LIMITS)


def _fake_dataset():
    class Fake:
        data = torch.zeros(2, 28, 28, dtype=torch.uint8)
        targets = torch.zeros(2, dtype=torch.long)

    return Fake()


def test_notebook_data_is_hidden_while_the_graded_code_runs():
    namespace = {"torch": torch, "test_images": torch.zeros(20, 1, 28, 28), "small": torch.zeros(3), "loaders": [torch.zeros(50, 784)]}

    def cheat(images):
        return torch.cat([images, test_images])  # noqa: F821 (a global of `namespace`)

    cheat = type(cheat)(cheat.__code__, namespace)
    with C.notebook_data_hidden(cheat):
        assert isinstance(namespace["test_images"], C.HiddenData)
        assert isinstance(namespace["loaders"], C.HiddenData)
        assert namespace["small"].shape == (3,)
        with pytest.raises(AssertionError, match="`test_images`"):
            cheat(torch.zeros(1, 1, 28, 28))
    assert namespace["test_images"].shape == (20, 1, 28, 28)


def test_leak_check():
    C.check_no_test_leak(0.975, 1000, 0.97, 2000, "model")
    with pytest.raises(AssertionError, match="seen the test split"):
        C.check_no_test_leak(0.999, 1000, 0.95, 2800, "model")


def test_experiment_replication_accepts_the_run_and_refuses_other_training(solution):
    from course_utils.runtime import seed_everything

    images, labels, _ = C.mnist_split(train=True)
    test_images, test_labels, _ = C.mnist_split(train=False)
    namespace = dict(solution, train_images=images[:400], train_labels=labels[:400], val_images=images[400:500],
                     val_labels=labels[400:500])
    seed_everything(C.EXPERIMENT_SEED)
    model = solution["build_model"]()
    history = solution["train_model"](model, images[:400], labels[:400], images[400:500], labels[400:500], max_epochs=2)
    namespace.update(cnn_model=model, cnn_history=history)
    C.check_experiment_replicates(namespace, C.check_history_format(history), test_images[:300], 2, "cpu")

    seed_everything(C.EXPERIMENT_SEED)
    cheat = solution["build_model"]()
    cheat_history = solution["train_model"](cheat, test_images[:400], test_labels[:400], images[400:500], labels[400:500],
                                            max_epochs=2)
    namespace.update(cnn_model=cheat, cnn_history=cheat_history)
    with pytest.raises(AssertionError, match="must come from that one run|disagree"):
        C.check_experiment_replicates(namespace, C.check_history_format(cheat_history), test_images[:300], 2, "cpu")
