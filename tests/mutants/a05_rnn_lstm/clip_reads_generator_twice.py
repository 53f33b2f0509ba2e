# Mutant: the parameters are iterated twice, so a generator (model.parameters()) is empty the second time
# %% grade_id=clip_grad_norm
def clip_grad_norm(parameters, max_norm):
    total_norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in parameters if p.grad is not None))
    factor = max_norm / (float(total_norm) + 1e-6)
    if factor < 1:
        for p in parameters:
            if p.grad is not None:
                p.grad.mul_(factor)
    return total_norm
