# Mutant: momentum keeps one velocity per parameter shape (a dict keyed by p.shape), so parameters of the same shape share it
# %% grade_id=sgd_momentum
class SGDMomentum(Optimizer):
    """SGD with momentum, like torch.optim.SGD(params, lr, momentum=..., weight_decay=...)."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocities = {}

    @torch.no_grad()
    def step(self):
        """One step: v <- momentum * v + grad (v = grad on the first step), p <- p - lr * v."""
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            grad = param.grad + self.weight_decay * param
            key = tuple(param.shape)
            if key not in self.velocities:
                self.velocities[key] = grad.clone()
            else:
                self.velocities[key].mul_(self.momentum).add_(grad)
            state["velocity"] = self.velocities[key]
            param.sub_(self.lr * self.velocities[key])
