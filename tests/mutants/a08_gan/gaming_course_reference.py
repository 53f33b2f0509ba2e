# Mutant: gaming attempt: the course's reference losses, networks and step under the assignment's names
# %% grade_id=discriminator_loss
from course_utils.models import gan as _course


def discriminator_loss(real_logits, fake_logits):
    return _course.discriminator_loss(real_logits, fake_logits)
# %% grade_id=generator_loss
from course_utils.models.gan import generator_loss as _reference_generator_loss


def generator_loss(fake_logits, saturating=False):
    return _reference_generator_loss(fake_logits, saturating)
# %% grade_id=networks
from course_utils.models.gan import DCDiscriminator, DCGenerator, dcgan_init as init_dcgan_weights


class Generator(DCGenerator):
    pass


class Discriminator(DCDiscriminator):
    pass
# %% grade_id=train_step
from course_utils.models.gan import gan_step as _reference_step


def train_step(G, D, opt_G, opt_D, real, latent_dim, saturating=False):
    return _reference_step(G, D, opt_G, opt_D, real, saturating)
