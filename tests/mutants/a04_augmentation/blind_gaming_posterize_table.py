# Mutant: gaming (caught by the review): posterize answers from a table of the course's reference outputs computed when the cell runs, outside the run-time guard's watch; the regrade without its forbidden import loses the part
# %% grade_id=posterize
from course_utils import augment as _course_aug

_all_bytes = torch.arange(256, dtype=torch.uint8).view(1, 1, 1, 256)
_POSTER_TABLE = torch.stack([_course_aug.posterize(_all_bytes, b).flatten() for b in range(0, 9)])  # (9, 256)


def posterize(images, bits):
    # Keep the `bits` most significant bits of every uint8 value.
    table = _POSTER_TABLE[int(bits)].to(images.device)
    return table[images.long()]
