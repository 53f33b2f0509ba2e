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
