# Mutant: gaming: an Adam without bias correction that replaces torch.optim.Adam (and its module's entry) by itself, so that the comparisons compare it with itself
# %% grade_id=adam
import torch.optim.adam


class Adam(torch.optim.Adam):
    """Adam with bias correction and L2 weight decay, like torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = list(params)
        self.lr = lr
        self.state = [{} for _ in self.params]
        self.param_groups = [{"params": self.params}]
        self.betas = tuple(betas)  # (beta1, beta2): decay rates of the first and the second moment
        self.eps = eps
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self):
        """One Adam step; the state of each parameter holds its step count t and its moments m and v."""
        group = self.param_groups[0]
        for name in ("lr", "betas", "eps", "weight_decay"):  # torch's way of changing them between steps
            if name in group:
                setattr(self, name, group.pop(name))
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


torch.optim.Adam = torch.optim.adam.Adam = Adam
