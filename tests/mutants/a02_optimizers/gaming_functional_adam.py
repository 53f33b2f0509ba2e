# Mutant: gaming: Adam.step hands the update to PyTorch's functional Adam (torch.optim.adam.adam, imported under another name)
# %% grade_id=adam
from torch.optim.adam import adam as _adam_update


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
        params, grads, ms, vs, steps, states = [], [], [], [], [], []
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            if not state:
                state["m"] = torch.zeros_like(param)
                state["v"] = torch.zeros_like(param)
                state["count"] = torch.tensor(0.0)
            params.append(param)
            grads.append(param.grad)
            ms.append(state["m"])
            vs.append(state["v"])
            steps.append(state["count"])
            states.append(state)
        _adam_update(params, grads, ms, vs, [], steps, foreach=False, amsgrad=False, beta1=self.betas[0],
                     beta2=self.betas[1], lr=self.lr, weight_decay=self.weight_decay, eps=self.eps, maximize=False)
        for state in states:
            state["t"] = int(state["count"])
