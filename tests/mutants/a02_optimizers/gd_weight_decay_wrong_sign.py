# Mutant: gradient descent subtracts the weight-decay term from the gradient (g - wd * p), growing the weights
# %% grade_id=gd
class GD(Optimizer):
    """Gradient descent p <- p - lr * (grad + weight_decay * p), like torch.optim.SGD without momentum."""

    def __init__(self, params, lr, weight_decay=0.0):
        super().__init__(params, lr)
        self.weight_decay = weight_decay

    @torch.no_grad()  # the update itself must not be recorded by autograd
    def step(self):
        """One gradient-descent step for every parameter that has a gradient."""
        for param in self.params:
            if param.grad is None:
                continue
            param -= self.lr * (param.grad - self.weight_decay * param)
