# Mutant: draws another CLASS uniformly, then an index of that class: valid and random, but not uniform over the indices when class sizes differ
# %% grade_id=mismatched
def mismatched_indices(labels):
    labels = torch.as_tensor(labels)
    classes = torch.unique(labels)
    if len(classes) < 2:
        raise ValueError("batch of a single class: no mismatched caption")
    out = torch.empty(len(labels), dtype=torch.long)
    for i in range(len(labels)):
        others = classes[classes != labels[i]]
        k = others[torch.randint(len(others), (1,))]
        candidates = torch.nonzero(labels == k).squeeze(1)
        out[i] = candidates[torch.randint(len(candidates), (1,))]
    return out
