"""From-scratch optimisers against torch.optim: the same trajectory, step for step."""

import pytest
import torch

from course_utils import optim

CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.05)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.05)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9, weight_decay=0.1, momentum=0.5)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.9)),
    (optim.Adadelta, torch.optim.Adadelta, dict()),
    (optim.Adadelta, torch.optim.Adadelta, dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
]


def loss_fn(w: torch.Tensor, b: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A small non-convex problem: a tanh network's squared error."""
    return ((torch.tanh(X @ w) @ b - y) ** 2).mean()


def trajectory(optimizer_cls, hyper, steps=60, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(32, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(32, generator=gen, dtype=torch.float64)
    w = torch.randn(4, 3, generator=gen, dtype=torch.float64).requires_grad_()
    b = torch.randn(3, generator=gen, dtype=torch.float64).requires_grad_()
    opt = optimizer_cls([w, b], **hyper)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(w, b, X, y).backward()
        opt.step()
        path.append(torch.cat([w.detach().flatten(), b.detach()]).clone())
    return torch.stack(path)


@pytest.mark.parametrize("ours,theirs,hyper", CASES, ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_trajectory_matches_torch(ours, theirs, hyper):
    mine, torchs = trajectory(ours, hyper), trajectory(theirs, hyper)
    torch.testing.assert_close(mine, torchs, rtol=1e-9, atol=1e-11)
    assert not torch.allclose(mine[0], mine[-1])  # the parameters really moved


def test_adam_bias_correction_matters():
    """Dropping the bias correction changes the first step (a classic bug the tests must see)."""
    p = torch.tensor([1.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    p.grad = torch.tensor([0.5])
    opt.step()
    # with bias correction the first Adam step is lr * sign(g)
    assert p.item() == pytest.approx(1.0 - 0.1, abs=1e-6)


def test_parameters_without_gradients_are_left_alone():
    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = torch.ones(2)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and not torch.equal(a.detach(), torch.ones(2))


def test_bad_hyperparameters_are_clear_errors():
    p = [torch.zeros(1, requires_grad=True)]
    with pytest.raises(ValueError, match="learning rate"):
        optim.SGD(p, lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([], lr=0.1)


@pytest.mark.gpu
def test_adam_on_cuda_matches_torch():
    p1 = torch.randn(100, device="cuda", requires_grad=True)
    p2 = p1.detach().clone().requires_grad_()
    ours, theirs = optim.Adam([p1], lr=0.01), torch.optim.Adam([p2], lr=0.01)
    for _ in range(20):
        for p, opt in ((p1, ours), (p2, theirs)):
            opt.zero_grad()
            (p**4).sum().backward()
            opt.step()
    torch.testing.assert_close(p1, p2)


# ------------------------------------------------------------ 2-D test surfaces
@pytest.mark.parametrize("name", list(optim.SURFACES))
def test_surface_gradient_vanishes_at_its_documented_minimum(name):
    surface = optim.SURFACES[name]
    at_minimum = torch.tensor(surface.minimum, dtype=torch.float64, requires_grad=True)
    value = surface(at_minimum)
    (grad,) = torch.autograd.grad(value, at_minimum)
    assert value.ndim == 0 and value.item() == pytest.approx(0.0, abs=1e-12)
    torch.testing.assert_close(grad, torch.zeros(2, dtype=torch.float64), atol=1e-12, rtol=0)
    # and it is a minimum: every nearby point is higher, and the Hessian is positive definite
    hessian = torch.autograd.functional.hessian(surface, at_minimum.detach())
    assert torch.linalg.eigvalsh(hessian).min() > 0
    nearby = at_minimum.detach() + 1e-3 * torch.randn(100, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert (surface(nearby) > value.detach()).all()


def test_surfaces_have_their_textbook_values():
    bowl, banana = optim.SURFACES["quadratic bowl"], optim.SURFACES["rosenbrock"]
    point = torch.tensor([2.0, -1.0], dtype=torch.float64)
    assert bowl(point).item() == pytest.approx(0.5 * (4 + 10 * 1))
    assert banana(point).item() == pytest.approx((1 - 2) ** 2 + 100 * (-1 - 4) ** 2)
    assert banana(torch.tensor([-1.2, 1.0])).item() == pytest.approx(24.2)  # the classic start
    grid = torch.zeros(3, 4, 2)
    assert bowl(grid).shape == (3, 4)  # the last dimension holds (x, y): grids evaluate in one call
    hessian = torch.autograd.functional.hessian(bowl, torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(hessian, torch.diag(torch.tensor([1.0, 10.0], dtype=torch.float64)))


@pytest.mark.parametrize("name", list(optim.SURFACES))
def test_surface_start_and_minimum_lie_in_the_plotting_window(name):
    surface = optim.SURFACES[name]
    for x, y in (surface.start, surface.minimum):
        assert surface.xlim[0] < x < surface.xlim[1] and surface.ylim[0] < y < surface.ylim[1]
    assert surface(torch.tensor(surface.start)).item() > 1.0  # the start is well above the minimum


def test_from_scratch_optimizer_works_with_the_course_trainer():
    from course_utils import data, train

    torch.manual_seed(0)
    X = torch.randn(64, 2)
    y = (X[:, 0] > 0).long()
    model = torch.nn.Linear(2, 2)
    batches = data.DeviceLoader(X, y, batch_size=16, seed=0)
    history = train.fit(model, batches, batches, epochs=5, optimizer=optim.Adam(model.parameters(), lr=0.1),
                        progress=False)
    assert history["lr"] == [0.1] * 5
    assert history["val_accuracy"][-1] > 0.9
