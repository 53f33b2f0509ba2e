# Mutant: momentum keeps the learning rate inside the velocity (v = momentum * v + lr * g, p -= v): the same steps until lr changes between steps
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
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            step = self.lr * (param.grad + self.weight_decay * param)
            if "velocity" not in state:
                state["velocity"] = step.clone()
            else:
                state["velocity"].mul_(self.momentum).add_(step)
            param.sub_(state["velocity"])
