"""Optimisers written from their update rules (reference for chapter 3 and assignment a02).

Each class mirrors the ``torch.optim`` class of the same name, with the same
hyperparameters and defaults, and updates parameters in place from their
``.grad``, so ``step()`` can replace the torch optimiser in any training loop.
The tests check that parameter trajectories agree with torch step for step.

The end of the file holds :data:`SURFACES`, two 2-D loss functions with known
minima (an ill-conditioned quadratic bowl and Rosenbrock's banana) on which
chapter 3 draws the optimisers' trajectories.

Notation in comments: ``g`` gradient, ``m`` first moment (momentum),
``v`` second moment (running mean of g^2), ``t`` step number from 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from course_utils.grading import reference


class Optimizer:
    """Holds the parameters and one state dict per parameter; subclasses define ``update``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, weight_decay: float = 0.0) -> None:
        self.params = [p for p in params]
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr < 0:
            raise ValueError(f"learning rate must be >= 0, got {lr}")
        self.param_groups = [{"params": self.params, "lr": lr}]  # what torch's schedulers and fit() read
        self.weight_decay = weight_decay
        self.state: list[dict[str, torch.Tensor | int]] = [{} for _ in self.params]

    @property
    def lr(self) -> float:
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.param_groups[0]["lr"] = value

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last backward pass."""
        for p in self.params:
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p  # L2 penalty (wd/2)||p||^2 adds wd * p to the gradient
            state["t"] = int(state.get("t", 0)) + 1
            self.update(p, g, state)

    def update(self, p: torch.Tensor, g: torch.Tensor, state: dict) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Gradient descent p <- p - lr * g, optionally with (Nesterov) momentum.

    Plain gradient descent and stochastic gradient descent share this update;
    they differ in the batch the gradient was computed on.
    """

    @reference
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, lr, weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and zero dampening")
        self.momentum, self.dampening, self.nesterov = momentum, dampening, nesterov

    @reference
    def update(self, p, g, state):
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = g.clone()  # first step: the velocity is the gradient
            else:
                state["velocity"].mul_(self.momentum).add_(g, alpha=1 - self.dampening)
            velocity = state["velocity"]
            # Nesterov: step along the gradient plus the look-ahead velocity
            g = g + self.momentum * velocity if self.nesterov else velocity
        p.add_(g, alpha=-self.lr)


class Adagrad(Optimizer):
    """Per-coordinate steps lr / sqrt(sum of all past g^2): big for rare features, shrinking over time."""

    @reference
    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, lr, weight_decay)
        self.lr_decay, self.initial, self.eps = lr_decay, initial_accumulator_value, eps

    @reference
    def update(self, p, g, state):
        if "sum_sq" not in state:
            state["sum_sq"] = torch.full_like(p, self.initial)
        state["sum_sq"].add_(g * g)
        lr_t = self.lr / (1 + (state["t"] - 1) * self.lr_decay)
        p.add_(-lr_t * g / (state["sum_sq"].sqrt() + self.eps))


class RMSprop(Optimizer):
    """Divide by a running root-mean-square of g (decay ``alpha``) instead of Adagrad's growing sum."""

    @reference
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = alpha, eps, momentum, centered

    @reference
    def update(self, p, g, state):
        if "v" not in state:
            state["v"] = torch.zeros_like(p)
            state["mean_g"] = torch.zeros_like(p)
            state["buffer"] = torch.zeros_like(p)
        v = state["v"].mul_(self.alpha).add_((1 - self.alpha) * g * g)
        if self.centered:  # subtract the squared mean: an estimate of the variance of g
            mean_g = state["mean_g"].mul_(self.alpha).add_((1 - self.alpha) * g)
            denom = (v - mean_g * mean_g).sqrt() + self.eps
        else:
            denom = v.sqrt() + self.eps
        if self.momentum > 0:
            buffer = state["buffer"].mul_(self.momentum).add_(g / denom)
            p.add_(buffer, alpha=-self.lr)
        else:
            p.add_(g / denom, alpha=-self.lr)


class Adadelta(Optimizer):
    """Step = RMS(past steps) / RMS(past gradients) * g: units match the parameters, lr is just a scale."""

    @reference
    def __init__(self, params, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.rho, self.eps = rho, eps

    @reference
    def update(self, p, g, state):
        if "v" not in state:
            state["v"] = torch.zeros_like(p)  # running mean of g^2
            state["u"] = torch.zeros_like(p)  # running mean of step^2
        v = state["v"].mul_(self.rho).add_((1 - self.rho) * g * g)
        delta = (state["u"] + self.eps).sqrt() / (v + self.eps).sqrt() * g
        state["u"].mul_(self.rho).add_((1 - self.rho) * delta * delta)
        p.add_(delta, alpha=-self.lr)


class Adam(Optimizer):
    """Momentum (m) plus RMSprop scaling (v), both bias-corrected for their zero start."""

    @reference
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    @reference
    def update(self, p, g, state):
        if "m" not in state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
        t = state["t"]
        m = state["m"].mul_(self.beta1).add_((1 - self.beta1) * g)
        v = state["v"].mul_(self.beta2).add_((1 - self.beta2) * g * g)
        # m and v start at 0, so early on they underestimate; v more so (beta2 > beta1), which
        # without correction makes the first steps too large (about 3x at t = 1 with default betas)
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        p.add_(-self.lr * m_hat / (v_hat.sqrt() + self.eps))


OPTIMIZERS = {
    "GD / SGD": SGD,
    "Momentum": lambda params, lr: SGD(params, lr=lr, momentum=0.9),
    "Nesterov": lambda params, lr: SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": Adagrad,
    "RMSProp": RMSprop,
    "AdaDelta": Adadelta,
    "Adam": Adam,
}


# ------------------------------------------------------------ 2-D test surfaces
# Small loss functions of two parameters, used to draw optimiser trajectories
# (chapter 3 and course_utils.widgets.optimizer_explorer). Each takes a tensor
# whose last dimension holds (x, y), so one call evaluates a single point (2,)
# or a whole plotting grid (H, W, 2).


def quadratic_bowl(xy: torch.Tensor) -> torch.Tensor:
    """Ill-conditioned bowl f = (x^2 + 10 y^2) / 2; minimum 0 at (0, 0).

    The Hessian is diag(1, 10): the valley is 10 times steeper across (y) than
    along (x), so plain gradient descent must keep lr < 2/10 and then crawls along x.
    """
    x, y = xy[..., 0], xy[..., 1]
    return 0.5 * (x**2 + 10.0 * y**2)


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    """Rosenbrock's banana f = (1 - x)^2 + 100 (y - x^2)^2; minimum 0 at (1, 1).

    The minimum lies in a long, curved, flat-bottomed valley along y = x^2:
    easy to fall into, slow to follow (Rosenbrock, 1960).
    """
    x, y = xy[..., 0], xy[..., 1]
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


@dataclass(frozen=True)
class Surface:
    """A 2-D test function with its known minimiser, a starting point and a plotting window."""

    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    minimum: tuple[float, float]  # where f reaches its minimum value, 0
    start: tuple[float, float]  # the default starting point of the trajectories
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    formula: str  # LaTeX, for titles

    def __call__(self, xy: torch.Tensor) -> torch.Tensor:
        return self.fn(xy)


SURFACES = {
    "quadratic bowl": Surface("quadratic bowl", quadratic_bowl, minimum=(0.0, 0.0), start=(-4.0, 1.5),
                              xlim=(-4.5, 3.0), ylim=(-2.0, 2.0), formula=r"$f = (x^2 + 10\,y^2)/2$"),
    "rosenbrock": Surface("rosenbrock", rosenbrock, minimum=(1.0, 1.0), start=(-1.2, 1.0),
                          xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), formula=r"$f = (1 - x)^2 + 100\,(y - x^2)^2$"),
}
"""Name -> :class:`Surface`; the minimum value of each function is 0, at ``surface.minimum``."""
