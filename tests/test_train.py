"""fit/evaluate on small problems, checked against independent computations."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, log_loss
from torch import nn

from course_utils import data, train


def _blobs(device="cpu"):
    X, y = data.make_toy("blobs", n_samples=400, noise=0.0, seed=1)
    return torch.tensor(X, device=device), torch.tensor(y, device=device)


def test_evaluate_agrees_with_sklearn():
    torch.manual_seed(0)
    X, y = _blobs()
    model = nn.Linear(2, 3).double()
    batches = data.DeviceLoader(X.double(), y, batch_size=64, shuffle=False)
    stats = train.evaluate(model, batches)
    with torch.no_grad():
        logits = model(X.double())
    probs = torch.softmax(logits, dim=1).numpy()
    assert stats["accuracy"] == pytest.approx(accuracy_score(y.numpy(), probs.argmax(1)))
    assert stats["loss"] == pytest.approx(log_loss(y.numpy(), probs), rel=1e-6)


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    X, y = _blobs()
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    loader = data.DeviceLoader(X, y, batch_size=32, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    history = train.fit(model, loader, loader, epochs=10, optimizer=opt, scheduler=sched, progress=False)
    assert all(len(history[k]) == 10 for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"))
    assert history["val_accuracy"][-1] > 0.95
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["lr"][0] == 0.1 and history["lr"][5] == 0.05


def test_fit_stops_at_target_accuracy():
    torch.manual_seed(0)
    X, y = _blobs()
    model = nn.Linear(2, 3)
    loader = data.DeviceLoader(X, y, batch_size=32, seed=0)
    history = train.fit(model, loader, loader, epochs=50, optimizer=torch.optim.Adam(model.parameters(), 0.05),
                        progress=False, target_accuracy=0.9)
    assert len(history["val_accuracy"]) < 50 and history["val_accuracy"][-1] >= 0.9
    assert all(acc < 0.9 for acc in history["val_accuracy"][:-1])


def test_empty_loader_is_a_clear_error():
    with pytest.raises(ValueError, match="no batches"):
        train.evaluate(nn.Linear(2, 2), [])


@pytest.mark.gpu
def test_fit_on_cuda_with_amp():
    torch.manual_seed(0)
    X, y = _blobs("cuda")
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 3)).cuda()
    loader = data.DeviceLoader(X, y, batch_size=64, seed=0)
    history = train.fit(model, loader, loader, epochs=10, optimizer=torch.optim.Adam(model.parameters(), 0.01),
                        progress=False, amp=True)
    assert history["val_accuracy"][-1] > 0.95
    assert np.isfinite(history["train_loss"]).all()


def _overfitting_problem():
    """60 noisy moons and a large validation set: a wide MLP overfits, so the validation loss turns up."""
    X, y = data.make_toy("moons", n_samples=60, noise=0.35, seed=1)
    X_val, y_val = data.make_toy("moons", n_samples=500, noise=0.35, seed=2)
    train_batches = data.DeviceLoader(torch.tensor(X), torch.tensor(y), batch_size=60, seed=0)
    val_batches = data.DeviceLoader(torch.tensor(X_val), torch.tensor(y_val), batch_size=500, shuffle=False)
    return train_batches, val_batches


def _wide_mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    train_batches, val_batches = _overfitting_problem()
    full_model = _wide_mlp()
    full = train.fit(full_model, train_batches, val_batches, epochs=300, progress=False,
                     optimizer=torch.optim.SGD(full_model.parameters(), lr=0.1, momentum=0.9))
    # the same run again, stopped early: the recorded epochs must be a prefix of the full run
    model = _wide_mlp()
    stopped = train.fit(model, train_batches, val_batches, epochs=300, progress=False, patience=20,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    n = len(stopped["val_loss"])
    np.testing.assert_allclose(stopped["val_loss"], full["val_loss"][:n], rtol=1e-5)
    best = int(np.argmin(full["val_loss"][:n])) + 1
    assert stopped["best_epoch"] == best
    assert stopped["stopped_epoch"] == n == best + 20 < 300
    assert min(full["val_loss"][best:n]) >= full["val_loss"][best - 1]  # 20 epochs without improvement
    # the weights in the model are those of the best epoch, not the last one
    assert train.evaluate(model, val_batches)["loss"] == pytest.approx(full["val_loss"][best - 1], rel=1e-5)


def test_early_stopping_on_accuracy_without_restoring():
    train_batches, val_batches = _overfitting_problem()
    model = _wide_mlp()
    history = train.fit(model, train_batches, val_batches, epochs=200, progress=False, patience=5,
                        monitor="val_accuracy", restore_best=False,
                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    n = len(history["val_accuracy"])
    assert history["val_accuracy"][history["best_epoch"] - 1] == max(history["val_accuracy"])
    if history["stopped_epoch"] is not None:
        assert history["stopped_epoch"] == n == history["best_epoch"] + 5
    assert train.evaluate(model, val_batches)["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_early_stopping_bad_arguments_are_clear_errors():
    loader = data.DeviceLoader(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), batch_size=2)
    with pytest.raises(ValueError, match="needs val_batches"):
        train.fit(nn.Linear(2, 2), loader, None, epochs=1, patience=3, progress=False)
    with pytest.raises(ValueError, match="monitor"):
        train.fit(nn.Linear(2, 2), loader, loader, epochs=1, patience=3, monitor="train_loss", progress=False)
    with pytest.raises(ValueError, match="patience"):
        train.EarlyStopping(0)


def test_early_stopping_is_a_reference_that_graded_code_may_not_run():
    from course_utils.grading import is_reference

    assert is_reference(train.EarlyStopping)
