# Mutant: gradient descent treats a missing gradient as zero, so weight decay still shrinks parameters that have no gradient
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
            grad = torch.zeros_like(param) if param.grad is None else param.grad
            param -= self.lr * (grad + self.weight_decay * param)
