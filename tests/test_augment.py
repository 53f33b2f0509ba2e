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
    # torch.rot90 with dims (-1, -2) turns the picture counter-clockwise as displayed (row 0 at the top)
    torch.testing.assert_close(augment.affine(images, degrees=90.0), torch.rot90(images, 1, dims=(-1, -2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(augment.affine(images, degrees=-90.0), torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5, rtol=0)


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
    torch.testing.assert_close(per_image[1], torch.rot90(images[1], 1, dims=(-1, -2)), atol=1e-5, rtol=0)
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
