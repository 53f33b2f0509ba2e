# Mutant: gaming: Adam copies the course's reference update (course_utils.optim.Adam.update) line for line and calls it from step
# %% grade_id=adam
class Adam(Optimizer):
    """Adam with bias correction and L2 weight decay, like torch.optim.Adam."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = tuple(betas)  # (beta1, beta2): decay rates of the first and the second moment
        self.eps = eps
        self.weight_decay = weight_decay

    @property
    def beta1(self):
        return self.betas[0]

    @property
    def beta2(self):
        return self.betas[1]

    @torch.no_grad()
    def step(self):
        """One Adam step; the state of each parameter holds its step count t and its moments m and v."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p
            state["t"] = int(state.get("t", 0)) + 1
            self.update(p, g, state)

    def update(self, p, g, state):
        if "m" not in state:
            state["m"] = torch.zeros_like(p)
            state["v"] = torch.zeros_like(p)
        t = state["t"]
        m = state["m"].mul_(self.beta1).add_((1 - self.beta1) * g)
        v = state["v"].mul_(self.beta2).add_((1 - self.beta2) * g * g)
        # m and v start at 0, so early on they underestimate; v more so (beta2 > beta1), which
        # without correction makes the first steps too large (about 3x at t = 1 with default betas)
        m_hat = m / (1 - self.beta1**t)
        v_hat = v / (1 - self.beta2**t)
        p.add_(-self.lr * m_hat / (v_hat.sqrt() + self.eps))
