# Mutant: each gradient clipped by its own norm instead of the global norm
# %% grade_id=clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    norms = [g.norm() for g in grads]
    for g, norm in zip(grads, norms):
        if norm > max_norm:
            g.mul_(max_norm / (norm + 1e-6))
    return torch.sqrt(sum(norm**2 for norm in norms))
