# Mutant: the "mismatched" caption is drawn from another image of the same class
# %% grade_id=mismatched
def mismatched_indices(labels):
    labels = torch.as_tensor(labels)
    n = len(labels)
    allowed = (labels[None, :] == labels[:, None]) & ~torch.eye(n, dtype=torch.bool)
    allowed = allowed | (allowed.sum(dim=1, keepdim=True) == 0) & ~torch.eye(n, dtype=torch.bool)  # singletons: anyone else
    return torch.multinomial(allowed.float(), 1).squeeze(1)
