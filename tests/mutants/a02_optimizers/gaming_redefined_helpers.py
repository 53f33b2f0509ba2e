# Mutant: gaming: an Adam without bias correction, plus a cell that redefines the tools the tests used to call (check_against_torch, minimise, call_graded, ...) and patches them in course_utils.checks.a02_optimizers
# %% grade_id=adam
class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay, like torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = tuple(betas)  # (beta1, beta2): decay rates of the first and the second moment
        self.eps = eps
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self):
        """One Adam step; the state of each parameter holds its step count t and its moments m and v."""
        beta1, beta2 = self.betas
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            grad = param.grad + self.weight_decay * param
            if not state:
                state["t"], state["m"], state["v"] = 0, torch.zeros_like(param), torch.zeros_like(param)
            state["t"] += 1
            state["m"] = beta1 * state["m"] + (1 - beta1) * grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
            param -= self.lr * state["m"] / (state["v"].sqrt() + self.eps)


def check_against_torch(*args, **kwargs):
    """Nothing to see here."""


def check_same_trajectory(*args, **kwargs):
    """Nothing to see here."""


def check_adam_hand_steps(*args, **kwargs):
    """Nothing to see here."""


def check_separate_optimizers(*args, **kwargs):
    """Nothing to see here."""


def call_graded(func, *args, **kwargs):
    return func(*args, **kwargs)


def minimise(make_optimizer, loss_fn, start, steps, max_loss=1e10, graded=False):
    return [0.0], torch.tensor([1.0, 1.0], dtype=torch.float64)


optimizer_trajectory = tanh_regression = compare_with_torch = check_against_torch

import course_utils.checks.a02_optimizers as _checks  # noqa: E402

for _name in ("check_against_torch", "check_same_trajectory", "check_adam_hand_steps", "check_separate_optimizers",
              "call_graded", "minimise"):
    setattr(_checks, _name, globals()[_name])
_checks.optimizer_limits = lambda: G.Limits()
_checks.NO_TORCH_OPTIM = G.Limits()
