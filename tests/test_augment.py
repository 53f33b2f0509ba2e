"""Batch augmentation against PyTorch's own operations (rot90, roll, identity)."""

import pytest
import torch

from course_utils import augment


def _images(n=3, c=2, h=12, w=12):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("dy,dx", [(0, 0), (2, 3), (-1, 4), (3, -2), (-4, -5)])
def test_shift_is_roll_with_the_wrapped_part_filled(dy, dx):
    images = _images()
    expected = torch.roll(images, shifts=(dy, dx), dims=(-2, -1))
    if dy > 0:
        expected[..., :dy, :] = -1.0
    elif dy < 0:
        expected[..., dy:, :] = -1.0
    if dx > 0:
        expected[..., :, :dx] = -1.0
    elif dx < 0:
        expected[..., :, dx:] = -1.0
    torch.testing.assert_close(augment.shift(images, dy, dx, fill=-1.0), expected)


def test_affine_without_change_is_the_identity():
    images = _images()
    torch.testing.assert_close(augment.affine(images), images, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dy,dx", [(2, 3), (-1, 4), (0, -2)])
def test_affine_whole_pixel_translation_matches_shift(dy, dx):
    images = _images()
    moved = augment.affine(images, translate=(dx, dy), fill=0.5)
    torch.testing.assert_close(moved, augment.shift(images, dy, dx, fill=0.5), atol=1e-5, rtol=0)


def test_affine_quarter_turn_is_rot90_counter_clockwise():
    images = _images(h=10, w=10)
    # torch.rot90 with dims (-2, -1) turns the picture counter-clockwise as displayed (row 0 at the top), as
    # torchvision's rotate does for a positive angle
    torch.testing.assert_close(augment.affine(images, degrees=90.0), torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    torch.testing.assert_close(augment.affine(images, degrees=-90.0), torch.rot90(images, 1, dims=(-1, -2)), atol=1e-5, rtol=0)
    from torchvision.transforms.v2 import functional as TF

    torch.testing.assert_close(augment.affine(images, degrees=30.0), TF.rotate(images, 30.0, interpolation=TF.InterpolationMode.BILINEAR),
                               atol=1e-4, rtol=0)


def test_affine_scale_two_magnifies_the_centre():
    image = torch.zeros(1, 1, 8, 8)
    image[..., 3:5, 3:5] = 1.0  # a 2x2 square in the centre
    magnified = augment.affine(image, scale=2.0)
    assert magnified[..., 2:6, 2:6].min() > 0.2 and magnified[..., :1, :].abs().max() == 0
    assert magnified.sum().item() == pytest.approx(4 * image.sum().item(), rel=0.1)  # area grows by the square of the scale


def test_per_image_parameters_and_random_affine():
    images = _images(n=4)
    per_image = augment.affine(images, degrees=torch.tensor([0.0, 90.0, 0.0, 0.0]), translate=torch.zeros(4, 2))
    torch.testing.assert_close(per_image[0], images[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(per_image[1], torch.rot90(images[1], 1, dims=(-2, -1)), atol=1e-5, rtol=0)
    a = augment.random_affine(images, generator=torch.Generator().manual_seed(1))
    b = augment.random_affine(images, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.shape == images.shape and not torch.allclose(a, images)
    torch.testing.assert_close(augment.random_affine(images, 0.0, 0.0, 0.0), images, atol=1e-5, rtol=0)


def test_augmented_batches_transform_every_batch_and_keep_labels():
    images, labels = _images(n=6), torch.arange(6)
    batches = [(images[:3], labels[:3]), (images[3:], labels[3:])]
    wrapped = augment.AugmentedBatches(batches, transform=lambda x: -x)
    assert len(wrapped) == 2
    for (x, y), (x0, y0) in zip(wrapped, batches):
        torch.testing.assert_close(x, -x0)
        assert torch.equal(y, y0)


def test_affine_needs_a_batch():
    with pytest.raises(ValueError, match="expects a batch"):
        augment.affine(torch.zeros(8, 8))


# ---------------------------------------------------------------- chapter 5: against torchvision.transforms.v2
import math

import numpy as np
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF
import torch.nn.functional as F


def _uint8(n=4, c=3, h=16, w=16, seed=0, low=0, high=256):
    return torch.randint(low, high, (n, c, h, w), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_im_enhance_is_autocontrast_up_to_rounding():
    # torchvision stretches each channel to [0, 255] too, but truncates where we round: at most one level apart
    images = _uint8(low=60, high=180, seed=1)
    ours, theirs = augment.im_enhance(images), TF.autocontrast(images)
    assert (ours.int() - theirs.int()).abs().max() <= 1
    assert (ours.amin(dim=(-2, -1)) == 0).all() and (ours.amax(dim=(-2, -1)) == 255).all()
    flat = torch.full((1, 3, 4, 4), 77, dtype=torch.uint8)
    assert torch.equal(augment.im_enhance(flat), flat) and torch.equal(TF.autocontrast(flat), flat)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
def test_posterize_is_torchvision_posterize(bits):
    images = _uint8(seed=bits)
    posterized = augment.posterize(images, bits)
    assert torch.equal(posterized, TF.posterize(images, bits))
    assert posterized.unique().numel() <= 2**bits
    assert ((images - posterized) < 2 ** (8 - bits)).all() and (posterized <= images).all()


@pytest.mark.parametrize("interpolation,mode", [("nearest", v2.InterpolationMode.NEAREST),
                                                ("bilinear", v2.InterpolationMode.BILINEAR)])
@pytest.mark.parametrize("degrees", [-140.0, -33.0, 17.0, 90.0, 179.0])  # no exact ties (sin 30 = 0.5 would make some)
def test_rotate_is_torchvision_rotate(interpolation, mode, degrees):
    images = torch.rand(2, 3, 15, 21, generator=torch.Generator().manual_seed(3))  # odd sides: no exact ties at 90
    ours = augment.rotate(images, degrees, interpolation=interpolation)
    theirs = TF.rotate(images, degrees, interpolation=mode)
    close = (ours - theirs).abs() < 1e-4
    # nearest: a source position a hair from a pixel boundary may round the other way in torchvision's float32
    assert close.float().mean() > 0.999


def test_rotate_uint8_and_per_image_angles():
    images = _uint8(n=3, h=12, w=12)
    ours = augment.rotate(images, torch.tensor([0.0, 90.0, -90.0]))
    assert ours.dtype == torch.uint8 and torch.equal(ours[0], images[0])
    assert torch.equal(ours[1], torch.rot90(images[1], 1, dims=(-2, -1)))  # counter-clockwise as displayed
    assert torch.equal(ours[2], torch.rot90(images[2], 1, dims=(-1, -2)))


def test_forward_mapping_leaves_holes_inverse_mapping_does_not():
    images = torch.full((1, 1, 32, 32), 200, dtype=torch.uint8)
    forward, inverse = augment.rotate_forward(images, 45.0), augment.rotate(images, 45.0, interpolation="nearest")
    rows, cols = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    disc = (rows - 15.5) ** 2 + (cols - 15.5) ** 2 < 14**2  # every pixel here has its source inside the image
    assert (forward[0, 0][disc] == 0).sum() > 20  # holes: destinations no source pixel was rounded to
    assert (inverse[0, 0][disc] == 200).all()
    square = _uint8(1, 1, 10, 10)
    assert torch.equal(augment.rotate_forward(square, 90.0), torch.rot90(square, 1, dims=(-2, -1)))


def test_random_rotate_draws_angles_in_range():
    images = _uint8(n=8)
    a = augment.random_rotate(images, generator=torch.Generator().manual_seed(0))
    b = augment.random_rotate(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and not torch.equal(a, images)


def test_contrast_hflip_against_torchvision():
    # torchvision's adjust_contrast pivots on the image's mean grey level, the classic contrast change on 128: on a one-channel image
    # whose mean is exactly 128 they agree (within one level: torchvision truncates, we round)
    values = torch.tensor([100, 156, 30, 226, 128, 128], dtype=torch.uint8)
    image = values.repeat(6).view(1, 1, 6, 6)
    assert image.float().mean() == 128
    for alpha in (0.5, 1.3, 2.0):
        ours = augment.contrast_hflip(image, alpha, False)
        assert (ours.int() - TF.adjust_contrast(image, alpha).int()).abs().max() <= 1
    images = _uint8()
    assert torch.equal(augment.contrast_hflip(images, 1.0, True), TF.horizontal_flip(images))
    flags = torch.tensor([True, False, True, False])
    mixed = augment.contrast_hflip(images, 1.0, flags)
    assert torch.equal(mixed[0], TF.horizontal_flip(images[0])) and torch.equal(mixed[1], images[1])
    twice = augment.random_contrast_hflip(images, generator=torch.Generator().manual_seed(4))
    assert twice.dtype == torch.uint8 and twice.shape == images.shape


def test_cutout_is_torchvision_erase_on_the_clipped_box():
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    centers = [(8, 8), (0, 15), (14, 2)]
    ours = augment.cutout(images, 6, centers=centers, fill=0.5)
    for i, (cy, cx) in enumerate(centers):
        y1, y2, x1, x2 = max(cy - 3, 0), min(cy + 3, 16), max(cx - 3, 0), min(cx + 3, 16)
        torch.testing.assert_close(ours[i], TF.erase(images[i], y1, x1, y2 - y1, x2 - x1, torch.tensor(0.5)))
    assert (ours[0] == 0.5).sum() == 3 * 36 and (ours[1] == 0.5).sum() == 3 * 12  # rows 0-2, columns 12-15
    # RandomErasing draws a box of random area and aspect ratio, always inside the image; with both fixed it
    # erases a square of that size, as cutout does away from the border
    erased = v2.RandomErasing(p=1.0, scale=(36 / 256, 36 / 256), ratio=(1.0, 1.0), value=0.5)(torch.zeros(3, 16, 16))
    assert (erased == 0.5).sum() == 3 * 36


def _class_labels(n, k, seed):
    return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed))


def test_mixup_is_torchvision_mixup():
    images, labels = torch.rand(5, 3, 8, 8), _class_labels(5, 4, 6)
    torch.manual_seed(11)
    theirs_x, theirs_y = v2.MixUp(alpha=0.4, num_classes=4)(images, labels)
    torch.manual_seed(11)
    lam = float(torch.distributions.Beta(0.4, 0.4).sample(()))  # the draw MixUp made
    partner = torch.arange(5).roll(1)  # torchvision pairs every image with the previous one in the batch
    ours_x, ours_y = augment.mixup(images, augment.one_hot(labels, 4), lam, partner)
    torch.testing.assert_close(ours_x, theirs_x)
    torch.testing.assert_close(ours_y, theirs_y)
    torch.testing.assert_close(ours_y.sum(1), torch.ones(5))


def test_mixup_mixes_two_different_images():
    images = torch.arange(4.0).view(4, 1, 1, 1)
    mixed, targets = augment.random_mixup(images, torch.arange(4), 4, alpha=1.0, generator=torch.Generator().manual_seed(0))
    assert not torch.allclose(mixed, images)  # with the partner x_j, not x_i again
    torch.testing.assert_close(targets.sum(1), torch.ones(4))
    torch.testing.assert_close(mixed.view(4), targets @ torch.arange(4.0))  # the image value is the label mix here


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_cutmix_is_torchvision_cutmix(seed):
    images, labels = torch.rand(4, 3, 10, 14), _class_labels(4, 3, seed)
    torch.manual_seed(seed)
    theirs_x, theirs_y = v2.CutMix(alpha=1.0, num_classes=3)(images, labels)
    torch.manual_seed(seed)
    lam = float(torch.distributions.Beta(1.0, 1.0).sample(()))  # the draws CutMix made, in its order
    cx, cy = int(torch.randint(14, (1,))), int(torch.randint(10, (1,)))
    ours_x, ours_y, kept = augment.cutmix(images, augment.one_hot(labels, 3), lam, torch.arange(4).roll(1), (cy, cx))
    torch.testing.assert_close(ours_x, theirs_x)
    torch.testing.assert_close(ours_y, theirs_y)
    pasted = (ours_x != images).any(1)[0].float().mean()  # share of image 0 that came from its partner
    assert kept == pytest.approx(1 - pasted.item(), abs=1e-6) or torch.equal(images[0], images[3])


def test_cutmix_label_weight_is_the_clipped_area():
    images = torch.zeros(2, 1, 10, 10)
    images[1] = 1.0
    mixed, targets, kept = augment.cutmix(images, torch.eye(2), 0.36, torch.tensor([1, 0]), (0, 0))
    # half-sides int(0.5 * 0.8 * 10) = 4: the box around the corner keeps only rows 0..3, columns 0..3
    assert mixed[0].sum() == 16 and kept == pytest.approx(1 - 16 / 100)
    torch.testing.assert_close(targets[0], torch.tensor([0.84, 0.16]))


class _FixedAugMix(v2.AugMix):
    """torchvision's AugMix with one operation (Invert, not idempotent) and the Dirichlet draws given."""

    _PARTIAL_AUGMENTATION_SPACE = {"Invert": (lambda num_bins, height, width: None, False)}
    _AUGMENTATION_SPACE = _PARTIAL_AUGMENTATION_SPACE

    def __init__(self, draws, **kwargs):
        super().__init__(**kwargs)
        self.draws = list(draws)

    def _sample_dirichlet(self, params):
        return self.draws.pop(0)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_augmix_mix_is_torchvision_augmix(depth):
    images = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(depth))
    m = torch.tensor([0.2, 0.5, 0.9])
    weights = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8]])
    theirs = _FixedAugMix([torch.stack([m, 1 - m], 1), weights], chain_depth=depth, mixture_width=3)(images)
    chain = images if depth % 2 == 0 else 1 - images  # Invert applied depth times
    torch.testing.assert_close(augment.augmix_mix(images, [chain] * 3, weights, m), theirs)


def test_augmix_output_and_weights():
    images = _uint8(n=6)
    a = augment.augmix(images, generator=torch.Generator().manual_seed(0))
    b = augment.augmix(images, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.min() >= 0 and a.max() <= 1
    # with the identity as the only operation every chain is x, so the mix is x whatever the weights
    same = augment.augmix(images, operations=[lambda x: x], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(same, images.float() / 255)
    # with one operation f, the output lies on the segment from x to f(x) at a Beta(alpha, alpha) position m
    ones = torch.zeros(2000, 1, 1, 1, dtype=torch.uint8)
    m = 1 - augment.augmix(ones, operations=[lambda x: x + 255], alpha=0.5, generator=torch.Generator().manual_seed(2)).view(-1)
    assert abs(m.mean().item() - 0.5) < 0.03 and abs(m.var().item() - 0.125) < 0.01  # Beta(.5, .5): variance 1/8


def test_kl_and_js_against_scipy_and_kl_div():
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import entropy

    rng = np.random.default_rng(0)
    p, q, r = (torch.tensor(rng.dirichlet(np.ones(5), size=4)) for _ in range(3))
    torch.testing.assert_close(augment.kl_divergence(p, q), torch.tensor(entropy(p.numpy(), q.numpy(), axis=1)))
    torch.testing.assert_close(augment.js_divergence(p, q), torch.tensor(jensenshannon(p.numpy(), q.numpy(), axis=1) ** 2))
    three = augment.js_divergence(p, q, r)  # entropy of the mixture minus the mean entropy
    mixture = (p + q + r) / 3
    expected = entropy(mixture.numpy(), axis=1) - np.mean([entropy(d.numpy(), axis=1) for d in (p, q, r)], axis=0)
    torch.testing.assert_close(three, torch.tensor(expected))
    assert (augment.js_divergence(p, q) <= math.log(2)).all()
    one_hot_a, one_hot_b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert augment.js_divergence(one_hot_a, one_hot_b).item() == pytest.approx(math.log(2))


def test_js_consistency_loss_is_augmix_papers_kl_div_form():
    logits = [torch.randn(6, 10, generator=torch.Generator().manual_seed(s)) * 3 for s in range(3)]
    probs = [torch.softmax(z, 1) for z in logits]
    log_mixture = torch.log(sum(probs) / 3)
    expected = sum(F.kl_div(log_mixture, p, reduction="batchmean") for p in probs) / 3
    torch.testing.assert_close(augment.js_consistency_loss(*logits), expected)
    assert augment.js_consistency_loss(logits[0], logits[0], logits[0]).item() == pytest.approx(0.0, abs=1e-7)
