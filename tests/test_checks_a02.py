"""course_utils.checks.a02_optimizers: the task's limits, the oracle check, the test problems and the comparisons."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim import adam as adam_module
from torch.optim import optimizer as optimizer_module
from torch.optim import sgd as sgd_module

import course_utils.optim as reference_optim
from course_utils import grading as G
from course_utils.checks import a02_optimizers as A02


class HonestSGD:
    """SGD with momentum written from its update rule, as a student would (state per parameter, read hyperparameters)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params, self.lr, self.momentum, self.weight_decay = list(params), lr, momentum, weight_decay
        self.state = [{} for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p
            if self.momentum:
                if "velocity" in state:
                    state["velocity"].mul_(self.momentum).add_(g)
                else:
                    state["velocity"] = g.clone()
                g = state["velocity"]
            p.sub_(self.lr * g)


class LrInVelocity(HonestSGD):
    """Wrong: the learning rate folded into the velocity; the same parameters as torch while lr stays fixed."""

    @torch.no_grad()
    def step(self):
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = self.lr * (p.grad + self.weight_decay * p)
            state["velocity"] = state["velocity"] * self.momentum + g if "velocity" in state else g.clone()
            p.sub_(state["velocity"])


class ReadsHyperparametersOnce(HonestSGD):
    """Wrong: lr and momentum read once, when the optimiser is built; a schedule's changes are ignored."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, lr, momentum, weight_decay)
        self.settings = (lr, momentum)

    @torch.no_grad()
    def step(self):
        lr, momentum = self.lr, self.momentum
        self.lr, self.momentum = self.settings
        super().step()
        self.lr, self.momentum = lr, momentum


class ResetsStateInZeroGrad(HonestSGD):
    def zero_grad(self):
        super().zero_grad()
        self.state = [{} for _ in self.params]


class FunctionalSGD(HonestSGD):
    """Gaming: the update handed to PyTorch's functional SGD under another name."""

    @torch.no_grad()
    def step(self):
        params = [p for p in self.params if p.grad is not None]
        sgd_module.sgd(params, [p.grad for p in params], [None] * len(params), weight_decay=self.weight_decay,
                       momentum=0.0, lr=self.lr, dampening=0.0, nesterov=False, maximize=False, foreach=False)


def _param():
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    p.grad = torch.full((3,), 0.5, dtype=torch.float64)
    return p


def _zeros():
    return torch.zeros(3, dtype=torch.float64)


FORBIDDEN = {
    "torch.optim.Adam": lambda p: torch.optim.Adam([p], lr=0.1).step(),
    "torch.optim.adam.adam": lambda p: adam_module.adam([p], [p.grad], [_zeros()], [_zeros()], [], [torch.tensor(0.0)],
                                                        foreach=False, amsgrad=False, beta1=0.9, beta2=0.999, lr=0.1,
                                                        weight_decay=0.0, eps=1e-8, maximize=False),
    "torch.optim.sgd.sgd": lambda p: sgd_module.sgd([p], [p.grad], [None], weight_decay=0.0, momentum=0.0, lr=0.1,
                                                    dampening=0.0, nesterov=False, maximize=False),
    "torch.optim._functional.sgd": lambda p: torch.optim._functional.sgd(
        [p], [p.grad], [None], weight_decay=0.0, momentum=0.0, lr=0.1, dampening=0.0, nesterov=False, maximize=False),
    "torch._foreach_add_": lambda p: torch._foreach_add_([p.detach()], [p.grad], alpha=-0.1),
    "torch._fused_adam_": lambda p: torch._fused_adam_([p.detach()], [p.grad], [_zeros()], [_zeros()], [],
                                                       [torch.tensor(1.0)], lr=0.1, beta1=0.9, beta2=0.999,
                                                       weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False),
    "torch.ops.aten._foreach_add_": lambda p: torch.ops.aten._foreach_add_.List([p.detach()], [p.grad], alpha=-0.1),
    "torch.ops.aten._fused_sgd_": lambda p: torch.ops.aten._fused_sgd_(
        [p.detach()], [p.grad], [], weight_decay=0.0, momentum=0.0, lr=0.1, dampening=0.0, nesterov=False,
        maximize=False, is_first_step=True),
    "course_utils.optim.Adam": lambda p: reference_optim.Adam([p], lr=0.1).step(),
    "course_utils.optim.Optimizer.step": lambda p: type("Mine", (reference_optim.Optimizer,), {
        "update": lambda self, q, g, state: q.sub_(0.1 * g)})([p], lr=0.1).step(),
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_limits_refuse_every_form_of_torch_optim_and_the_reference(name):
    p = _param()
    with pytest.raises(AssertionError, match="may not use") as info:
        A02.call_graded(FORBIDDEN[name], p)
    assert "torch.optim in any form" in str(info.value)  # the rule is repeated in the message


def test_limits_let_tensor_operations_under_no_grad_through():
    p = _param()

    @torch.no_grad()  # the decorator the reference's Optimizer.step also uses: it must not be mistaken for it
    def by_hand():
        m = torch.zeros_like(p).mul_(0.9).add_(0.1 * p.grad)
        v = torch.zeros_like(p).mul_(0.999).addcmul_(p.grad, p.grad, value=0.001)
        p.addcdiv_(m, v.sqrt().add_(1e-8), value=-0.1)

    A02.call_graded(by_hand)
    assert not torch.equal(p.detach(), torch.ones(3, dtype=torch.float64))


def test_limits_cannot_be_loosened_by_rebinding_the_module_constant(monkeypatch):
    monkeypatch.setattr(A02, "NO_TORCH_OPTIM", G.Limits())
    with pytest.raises(AssertionError, match="torch.optim"):
        A02.call_graded(FORBIDDEN["torch.optim.adam.adam"], _param())


def test_functional_sgd_class_earns_nothing_while_an_honest_one_matches_torch():
    problem = A02.random_problem(np.random.default_rng(0))
    A02.check_against_torch(HonestSGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.1), problem, steps=10)
    with pytest.raises(AssertionError, match="torch.optim"):
        A02.check_against_torch(FunctionalSGD, torch.optim.SGD, dict(lr=0.1, weight_decay=0.1), problem, steps=10)


def test_hyperparameter_changes_and_zero_grad_in_the_loop_are_compared_with_torch():
    problem = A02.random_problem(np.random.default_rng(1))
    hyper = dict(lr=0.03, momentum=0.9)
    changes = {5: dict(lr=0.01), 9: dict(momentum=0.5, weight_decay=0.1)}
    A02.check_against_torch(HonestSGD, torch.optim.SGD, hyper, problem, steps=12, changes=changes, use_zero_grad=True)
    A02.check_against_torch(ReadsHyperparametersOnce, torch.optim.SGD, hyper, problem, steps=12)
    with pytest.raises(AssertionError, match="set before step 6.*params.* after step 6"):
        A02.check_against_torch(ReadsHyperparametersOnce, torch.optim.SGD, hyper, problem, steps=12, changes=changes)
    with pytest.raises(AssertionError, match=r"self.state\[0\]\['velocity'\] after step 1"):  # right steps, wrong state
        A02.check_against_torch(LrInVelocity, torch.optim.SGD, hyper, problem, steps=12)
    with pytest.raises(AssertionError):
        A02.check_against_torch(ResetsStateInZeroGrad, torch.optim.SGD, hyper, problem, steps=12, use_zero_grad=True)


def test_state_is_compared_after_every_step():
    class NoStateName(HonestSGD):
        @torch.no_grad()
        def step(self):
            super().step()
            for state in self.state:
                if "velocity" in state:
                    state["buffer"] = state.pop("velocity")

    problem = A02.tanh_regression(seed=0, extra_params=True)
    with pytest.raises(AssertionError, match=r"self.state\[0\] has no 'velocity'"):
        A02.check_against_torch(NoStateName, torch.optim.SGD, dict(lr=0.05, momentum=0.9), problem, steps=3)


def test_random_problem_has_same_shaped_parameters_and_missing_gradients():
    rng = np.random.default_rng(2)
    values, loss_at_step = A02.random_problem(rng, dtype=torch.float32)
    assert all(v.dtype == torch.float32 for v in values)
    assert values[1].shape == values[3].shape == values[7].shape  # b1, b2, shift
    got_grad = []
    for step in range(12):
        params = [v.clone().requires_grad_() for v in values]
        loss_at_step(params, step).backward()
        got_grad.append([p.grad is not None for p in params])
    assert not any(row[5] for row in got_grad)  # unused
    assert not got_grad[0][6] and any(row[6] for row in got_grad)  # gain: not on the first step, on some later
    assert got_grad[0][7] and not all(row[7] for row in got_grad)  # shift: on the first step, not on all


def test_genuine_torch_optimizer_refuses_a_replaced_oracle(monkeypatch):
    assert A02.genuine_torch_optimizer(torch.optim.Adam) is torch.optim.Adam
    assert A02.genuine_torch_optimizer(torch.optim.SGD) is torch.optim.SGD
    with pytest.raises(AssertionError, match="not PyTorch's own"):
        A02.genuine_torch_optimizer(HonestSGD)
    monkeypatch.setattr(adam_module, "_single_tensor_adam", lambda *args, **kwargs: None)
    with pytest.raises(AssertionError, match="_single_tensor_adam was replaced"):
        A02.genuine_torch_optimizer(torch.optim.Adam)
    monkeypatch.undo()
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, closure=None: None)
    with pytest.raises(AssertionError, match="SGD.step was replaced"):
        A02.genuine_torch_optimizer(torch.optim.SGD)
    monkeypatch.undo()
    handle = optimizer_module.register_optimizer_step_post_hook(lambda optimizer, args, kwargs: None)
    try:
        with pytest.raises(AssertionError, match="global optimizer hook"):
            A02.genuine_torch_optimizer(torch.optim.SGD)
    finally:
        handle.remove()


def test_check_own_code_flags_an_edited_copy_of_the_reference_update():
    A02.check_own_code(HonestSGD)

    class Copied(HonestSGD):
        beta1, beta2, eps = 0.9, 0.999, 1e-8

        def update(self, p, g, state):  # course_utils.optim.Adam.update with the moments renamed
            if "first" not in state:
                state["first"] = torch.zeros_like(p)
                state["second"] = torch.zeros_like(p)
            t = state["t"]
            m = state["first"].mul_(self.beta1).add_((1 - self.beta1) * g)
            v = state["second"].mul_(self.beta2).add_((1 - self.beta2) * g * g)
            m_hat = m / (1 - self.beta1**t)
            v_hat = v / (1 - self.beta2**t)
            p.add_(-self.lr * m_hat / (v_hat.sqrt() + self.eps))

    with pytest.raises(AssertionError, match="course_utils.optim.Adam.update"):
        A02.check_own_code(Copied)


def test_minimise_stops_a_diverging_run_and_guards_graded_runs():
    losses, point = A02.minimise(lambda params: HonestSGD(params, lr=0.1), reference_optim.rosenbrock, (-1.5, 2.0), 50)
    assert len(losses) < 50 and not losses[-1] <= 1e10  # diverged: stopped at the first loss above the cap
    losses, point = A02.minimise(lambda params: HonestSGD(params, lr=1e-3, momentum=0.9),
                                 reference_optim.rosenbrock, (-1.5, 2.0), 20, graded=True)
    assert len(losses) == 20 and losses[-1] < losses[0]
    with pytest.raises(AssertionError, match="torch.optim"):
        A02.minimise(lambda params: torch.optim.SGD(params, lr=1e-3), reference_optim.rosenbrock, (-1.5, 2.0), 5,
                     graded=True)


def test_zero_grad_checks(monkeypatch):
    class Base:
        def __init__(self, params, lr):
            self.params = list(params)
            if not self.params or lr < 0:
                raise ValueError("bad")
            self.lr = lr
            self.state = [{} for _ in self.params]

        def zero_grad(self):
            for p in self.params:
                p.grad = None

    class ZeroesEverything(Base):
        def zero_grad(self):
            for p in self.params:
                p.grad = torch.zeros_like(p)

    rng = G.fresh_rng("test_zero_grad_checks")
    A02.check_optimizer_fields(Base)
    A02.check_optimizer_fields(Base, rng)
    A02.check_zero_grad(Base, rng)
    with pytest.raises(AssertionError, match="gave params"):
        A02.check_zero_grad(ZeroesEverything, rng)
