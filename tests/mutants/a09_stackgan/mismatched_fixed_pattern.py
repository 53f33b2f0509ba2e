# Mutant: the mismatched caption is always the next image of another class (a fixed pattern, not drawn at random)
# %% grade_id=mismatched
def mismatched_indices(labels):
    labels = torch.as_tensor(labels)
    n = len(labels)
    if len(torch.unique(labels)) < 2:
        raise ValueError("a single class")
    result = []
    for i in range(n):
        j = (i + 1) % n
        while labels[j] == labels[i]:
            j = (j + 1) % n
        result.append(j)
    return torch.tensor(result)
