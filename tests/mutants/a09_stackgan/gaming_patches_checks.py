# Mutant: gaming: a KL averaged over the dimensions, plus code that replaces the checks module's functions and oracles with ones that pass everything
# %% grade_id=kl
import course_utils.checks.a09_stackgan as _checks


def kl_to_standard_normal(mu, logvar):
    return 0.5 * torch.mean(mu ** 2 + logvar.exp() - 1 - logvar)


def generator_loss(fake_logits, mu, logvar, kl_weight=1.0):
    return -F.logsigmoid(fake_logits).mean() + kl_weight * kl_to_standard_normal(mu, logvar)


for _name in [n for n in dir(_checks) if n.startswith(("check_", "oracle_", "closed_form"))]:
    setattr(_checks, _name, lambda *args, **kwargs: torch.tensor(0.0))
_checks.G.check_close = lambda *args, **kwargs: None
_checks.G.check_true = lambda *args, **kwargs: None
