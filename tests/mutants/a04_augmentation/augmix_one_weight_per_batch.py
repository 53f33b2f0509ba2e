# Mutant: AugMix draws one m and one set of chain weights for the whole batch instead of one per image
# %% grade_id=augmix
def augmix_mix(images, chains, chain_weights, m):
    n = images.shape[0]
    mixed = torch.zeros_like(images)
    for k, chain in enumerate(chains):
        mixed = mixed + chain_weights[:, k].view(n, 1, 1, 1) * chain
    return m.view(n, 1, 1, 1) * images + (1 - m.view(n, 1, 1, 1)) * mixed


def augmix(images, operations, width=3, depth=2, alpha=1.0):
    n = images.shape[0]
    chain_weights = torch.distributions.Dirichlet(torch.full((width,), float(alpha))).sample().expand(n, width)
    m = torch.distributions.Beta(float(alpha), float(alpha)).sample().expand(n)
    chains = []
    for _ in range(width):
        chain = images
        for _ in range(depth):
            chain = operations[int(torch.randint(len(operations), ()))](chain)
        chains.append(chain.float() / 255)
    return augmix_mix(images.float() / 255, chains, chain_weights, m)
