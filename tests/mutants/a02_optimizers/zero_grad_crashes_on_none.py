# Mutant: zero_grad calls p.grad.zero_() on every parameter and fails when a gradient is still None
# %% grade_id=optimizer_base
class Optimizer:
    """Base class of the optimisers below: the parameters, the learning rate, one state dict per parameter."""

    def __init__(self, params, lr):
        self.params = list(params)  # a list of tensors, or a generator such as model.parameters()
        if not self.params:
            raise ValueError("the optimiser got an empty parameter list")
        if lr < 0:
            raise ValueError(f"the learning rate must be >= 0, got {lr}")
        self.lr = lr
        self.state = [{} for _ in self.params]  # self.state[i] belongs to self.params[i]

    def zero_grad(self):
        """Forget the gradients of the last backward pass: set every parameter's .grad to None."""
        for p in self.params:
            p.grad.zero_()

    def step(self):
        """Update every parameter that has a gradient; each optimiser below defines its own rule."""
        raise NotImplementedError("every optimiser defines its own step()")
