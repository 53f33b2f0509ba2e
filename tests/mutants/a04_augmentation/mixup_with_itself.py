# Mutant: Mixup mixes x_i with x_i (and y_i with y_i), the slip in the formula x = lam x_i + (1 - lam) x_i
# %% grade_id=mixup
def mixup(images, targets, lam, permutation):
    return lam * images + (1 - lam) * images, lam * targets + (1 - lam) * targets
