# Mutant: zero_grad also forgets the optimiser's state (the velocities and moments), so momentum and Adam restart at every step of a training loop
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
        for tensor in self.params:
            tensor.grad = None
        self.state = [{} for _ in self.params]  # start afresh

    def step(self):
        """Update every parameter that has a gradient; each optimiser below defines its own rule."""
        raise NotImplementedError("every optimiser defines its own step()")
