# Mutant: Adam creates its moments with torch.zeros(p.shape), float32 whatever the parameter's dtype, and updates them in place, so float64 parameters get float32 precision
# %% grade_id=adam
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
        beta1, beta2 = self.betas
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            grad = param.grad + self.weight_decay * param
            if not state:
                state["t"] = 0
                state["m"] = torch.zeros(param.shape)
                state["v"] = torch.zeros(param.shape)
            state["t"] += 1
            t = state["t"]
            state["m"].mul_(beta1).add_((1 - beta1) * grad)
            state["v"].mul_(beta2).add_((1 - beta2) * grad * grad)
            m_hat = state["m"] / (1 - beta1**t)
            v_hat = state["v"] / (1 - beta2**t)
            param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
