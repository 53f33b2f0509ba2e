# Mutant: Adam's bias correction multiplies running powers of beta1 and beta2 kept in the state: right while the betas stay fixed, wrong once they change between steps
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
                state.update(t=0, m=torch.zeros_like(param), v=torch.zeros_like(param), beta1_power=1.0, beta2_power=1.0)
            state["t"] += 1
            state["beta1_power"] *= beta1
            state["beta2_power"] *= beta2
            state["m"].mul_(beta1).add_((1 - beta1) * grad)
            state["v"].mul_(beta2).add_((1 - beta2) * grad * grad)
            m_hat = state["m"] / (1 - state["beta1_power"])
            v_hat = state["v"] / (1 - state["beta2_power"])
            param.sub_(self.lr * m_hat / (v_hat.sqrt() + self.eps))
