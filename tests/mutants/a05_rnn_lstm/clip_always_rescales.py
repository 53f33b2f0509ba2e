# Mutant: gradients always rescaled to norm max_norm, also when they are shorter (scaled up)
# %% grade_id=clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    # Scale all gradients by one factor so that their global L2 norm is at most max_norm; return the norm before.
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    total_norm = torch.sqrt(sum((g.double() ** 2).sum() for g in grads))
    factor = max_norm / (float(total_norm) + 1e-6)
    if True:
        for g in grads:
            g.mul_(factor)
    return total_norm
