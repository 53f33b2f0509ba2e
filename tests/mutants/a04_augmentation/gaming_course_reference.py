# Mutant: gaming: hand every task to the course's reference implementations in course_utils.augment
# %% grade_id=im_enhance
from course_utils import augment as _aug


def im_enhance(images):
    return _aug.im_enhance(images)
# %% grade_id=posterize
def posterize(images, bits):
    return _aug.posterize(images, bits)
# %% grade_id=mixup
def mixup(images, targets, lam, permutation):
    return _aug.mixup(images, targets, lam, permutation)
# %% grade_id=cutmix
def cutmix(images, targets, lam, permutation, center):
    return _aug.cutmix(images, targets, lam, permutation, center)
# %% grade_id=js_loss
def js_consistency_loss(logits_clean, logits_aug1, logits_aug2):
    return _aug.js_consistency_loss(logits_clean, logits_aug1, logits_aug2)
