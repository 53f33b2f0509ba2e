# Mutant: momentum keeps its velocities in a dict on the class, keyed by the parameter's position, so every SGDMomentum object shares them
# %% grade_id=sgd_momentum
class SGDMomentum(Optimizer):
    """SGD with momentum, like torch.optim.SGD(params, lr, momentum=..., weight_decay=...)."""

    velocities = {}

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0):
        super().__init__(params, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self):
        """One step: v <- momentum * v + grad (v = grad on the first step), p <- p - lr * v."""
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad + self.weight_decay * param
            if self.velocities.get(i) is None or self.velocities[i].shape != param.shape or not self.state[i]:
                self.velocities[i] = grad.clone()
            else:
                self.velocities[i].mul_(self.momentum).add_(grad)
            self.state[i]["velocity"] = self.velocities[i]
            param.sub_(self.lr * self.velocities[i])
