# Mutant: Adam counts steps once per step() call for all parameters, not per parameter (wrong bias correction for parameters that skip steps)
# %% grade_id=adam
class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay, like torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = tuple(betas)  # (beta1, beta2): decay rates of the first and the second moment
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0

    @torch.no_grad()
    def step(self):
        """One Adam step; the state of each parameter holds its step count t and its moments m and v."""
        beta1, beta2 = self.betas
        self.t += 1
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            grad = param.grad + self.weight_decay * param
            if not state:
                state["m"] = torch.zeros_like(param)
                state["v"] = torch.zeros_like(param)
            state["m"] = beta1 * state["m"] + (1 - beta1) * grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
            m_hat = state["m"] / (1 - beta1**self.t)
            v_hat = state["v"] / (1 - beta2**self.t)
            param -= self.lr * m_hat / (v_hat.sqrt() + self.eps)
