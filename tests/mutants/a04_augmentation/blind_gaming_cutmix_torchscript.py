# Mutant: gaming (caught by the review): cutmix is the course's reference compiled with torch.jit.script when the cell runs, so no Python frame of it runs during the graded call; the regrade without its forbidden import loses the part
# %% grade_id=cutmix
from course_utils import augment as _course_aug

_scripted = torch.jit.script(_course_aug.cutmix)


def cutmix(images, targets, lam, permutation, center):
    # Paste image permutation[i]'s box into image i; mix the labels by the box's real area. Returns (x, y, lam_adjusted).
    row, col = int(center[0]), int(center[1])
    return _scripted(images, targets, float(lam), permutation.long(), (row, col))
