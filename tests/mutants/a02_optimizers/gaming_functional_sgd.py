# Mutant: gaming: GD and SGDMomentum hand the update to PyTorch's functional SGD (torch.optim.sgd.sgd)
# %% grade_id=gd
from torch.optim import sgd as sgd_module


class GD(Optimizer):
    """Gradient descent p <- p - lr * (grad + weight_decay * p), like torch.optim.SGD without momentum."""

    def __init__(self, params, lr, weight_decay=0.0):
        super().__init__(params, lr)
        self.weight_decay = weight_decay

    @torch.no_grad()  # the update itself must not be recorded by autograd
    def step(self):
        """One gradient-descent step for every parameter that has a gradient."""
        params = [p for p in self.params if p.grad is not None]
        sgd_module.sgd(params, [p.grad for p in params], [None] * len(params), weight_decay=self.weight_decay,
                       momentum=0.0, lr=self.lr, dampening=0.0, nesterov=False, maximize=False, foreach=False)
# %% grade_id=sgd_momentum
class SGDMomentum(Optimizer):
    """SGD with momentum, like torch.optim.SGD(params, lr, momentum=..., weight_decay=...)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self):
        """One step: v <- momentum * v + grad (v = grad on the first step), p <- p - lr * v."""
        active = [i for i, p in enumerate(self.params) if p.grad is not None]
        buffers = [self.state[i].get("velocity") for i in active]
        sgd_module.sgd([self.params[i] for i in active], [self.params[i].grad for i in active], buffers,
                       weight_decay=self.weight_decay, momentum=self.momentum, lr=self.lr, dampening=0.0,
                       nesterov=False, maximize=False, foreach=False)
        for i, buffer in zip(active, buffers):
            self.state[i]["velocity"] = buffer
