# Mutant: gaming: the KL and the conditioning augmentation's draw taken from torch.distributions, which the rules forbid
# %% grade_id=kl
from torch.distributions import Normal, kl_divergence


def kl_to_standard_normal(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    return kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(dim=1).mean()


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return -F.logsigmoid(fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)
# %% grade_id=conditioning_augmentation
class ConditioningAugmentation(nn.Module):
    def __init__(self, embed_dim=32, cond_dim=16):
        super().__init__()
        self.cond_dim = cond_dim
        self.fc = nn.Linear(embed_dim, 2 * cond_dim)

    def forward(self, phi, eps=None):
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        sigma = torch.exp(0.5 * logvar)
        c = Normal(mu, sigma).rsample() if eps is None else mu + sigma * eps
        return c, mu, logvar
