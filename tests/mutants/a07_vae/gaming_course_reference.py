# Mutant: gaming attempt: the course's reference functions under other names
# %% grade_id=reparameterize
from course_utils.models import vae as _course


def reparameterize(mu, logvar):
    return _course.reparameterize(mu, logvar)
# %% grade_id=gaussian_kl
from course_utils.models.vae import gaussian_kl as _closed_form


def gaussian_kl(mu, logvar):
    return _closed_form(mu, logvar)
# %% grade_id=elbo
from course_utils.models.vae import elbo as _reference_elbo


def elbo(x, logits, mu, logvar):
    return _reference_elbo(x, logits, mu, logvar)


def vae_loss(x, logits, mu, logvar):
    return -elbo(x, logits, mu, logvar).mean()
