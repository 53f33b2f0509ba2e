# Mutant: multistep_lr decays only after the milestone epoch (epoch > m instead of epoch >= m)
# %% grade_id=multistep_lr
def multistep_lr(base_lr, epoch, milestones, gamma):
    """Learning rate for the 0-based `epoch`: base_lr times gamma once for every milestone m <= epoch."""
    lr = base_lr
    for milestone in milestones:
        if epoch > milestone:
            lr *= gamma
    return lr
