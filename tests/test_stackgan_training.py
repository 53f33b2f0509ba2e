"""StackGAN training on captioned digits: both stages' loops (tiny budgets), the text-image agreement measure, the
shipped Stage-I / Stage-II checkpoints and the recorded ablation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import captions as C
from course_utils import checkpoints
from course_utils.models import stackgan as S
from course_utils.models.gan import to_signed

STEP_KEYS = {"d_loss", "g_loss", "kl", "d_real", "d_wrong", "d_fake"}


@pytest.fixture(scope="module")
def digits():
    return C.CaptionedDigits(train=True, limit=128, verbose=False)


@pytest.fixture(scope="module")
def held_out():
    return C.CaptionedDigits(train=False, seed=1, limit=200, verbose=False)


@pytest.fixture(scope="module")
def text():
    torch.manual_seed(0)
    return C.TextEncoder().eval()  # untrained is enough for the loops; the shipped one is tested below


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_train_stage1_records_every_step_and_updates_both_networks(digits, text):
    torch.manual_seed(0)
    model = S.StackGANStageI(width=8)
    before = _state(model)
    history = S.train_stage1(model.generator, model.discriminator, digits, text, epochs=2, batch_size=32, progress=False)
    assert set(history) == STEP_KEYS | {"epoch_end"} and history["epoch_end"] == [4, 8]
    assert all(len(history[k]) == 8 for k in STEP_KEYS)
    after = model.state_dict()
    for prefix in ("generator.", "discriminator."):
        assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)), prefix
    assert not model.generator.training and not model.discriminator.training
    assert not any(p.grad is not None and p.grad.abs().sum() > 0 for p in text.parameters())  # phi_t stays fixed


def test_train_stage1_is_reproducible_given_the_seed(digits, text):
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = S.StackGANStageI(width=8)
        runs.append(S.train_stage1(model.generator, model.discriminator, digits, text, epochs=1, batch_size=32,
                                   seed=3, progress=False))
    assert runs[0] == runs[1]


def test_train_stage2_learns_on_the_outputs_of_a_frozen_stage1(digits, text):
    torch.manual_seed(0)
    one, two = S.StackGANStageI(width=8), S.StackGANStageII(width=8, n_residual=1)
    frozen = _state(one.generator)
    history = S.train_stage2(two.generator, two.discriminator, one.generator, digits, text, epochs=1, batch_size=32,
                             progress=False)
    assert history["epoch_end"] == [4] and all(len(history[k]) == 4 for k in STEP_KEYS)
    for key, value in one.generator.state_dict().items():
        assert torch.equal(value, frozen[key]), f"Stage-I changed while Stage-II trained: {key}"
    assert not any(p.requires_grad for p in one.generator.parameters())
    low, high = S.generate(one.generator, text(digits.tokens[:5]), two.generator)
    assert low.shape == (5, 1, 14, 14) and high.shape == (5, 1, 28, 28)


def test_the_ablations_train_too(digits, text):
    torch.manual_seed(0)
    model = S.StackGANStageI(width=8, augment=False)
    history = S.train_stage1(model.generator, model.discriminator, digits, text, epochs=1, batch_size=32,
                             kl_weight=0.0, mismatched=False, progress=False)
    assert len(history["d_loss"]) == 4
    with pytest.raises(ValueError, match="unknown ablation"):
        S.run_stage1_ablation("no_generator", write=False)


@pytest.mark.parametrize("kwargs, message", [({"epochs": 0}, "epochs must be at least 1"),
                                             ({"batch_size": 1000}, "larger than the 128")])
def test_bad_budgets_get_a_clear_error(digits, text, kwargs, message):
    model = S.StackGANStageI(width=8)
    with pytest.raises(ValueError, match=message):
        S.train_stage1(model.generator, model.discriminator, digits, text, progress=False, **kwargs)


def test_upsample_doubles_the_size_and_checks_its_input():
    images = torch.rand(3, 1, 14, 14) * 2 - 1
    up = S.upsample(images)
    assert up.shape == (3, 1, 28, 28)
    torch.testing.assert_close(up, nn.Upsample(scale_factor=2, mode="bilinear")(images))
    torch.testing.assert_close(S.upsample(torch.full((1, 1, 14, 14), 0.3)), torch.full((1, 1, 28, 28), 0.3))
    with pytest.raises(ValueError, match=r"\(N, 1, 14, 14\)"):
        S.upsample(torch.zeros(3, 1, 28, 28))


# ---------------------------------------------------------------- the agreement measure
class _Replay(nn.Module):
    """A stand-in generator that returns given images (in [-1, 1]) in order, whatever it is asked."""

    def __init__(self, images: torch.Tensor, noise_dim: int = 4) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.register_buffer("images", images)
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, first, phi, eps=None):
        return self.images[: len(phi)], None, None


def test_agreement_of_a_generator_that_returns_the_real_digits_equals_the_real_digits(held_out, text):
    real = to_signed(held_out.images)
    one, two = _Replay(S.downsample(real)), _Replay(real)
    result = S.text_image_agreement(one, two, text, held_out)
    assert set(result) == {"stage1_upsampled", "stage2", "real", "real_upsampled"}
    assert result["stage1_upsampled"] == result["real_upsampled"]
    assert result["stage2"] == result["real"]
    assert result["real"]["thickness_bin_match"] == result["real"]["slant_bin_match"] == 1.0  # captions are true
    assert result["real"]["class_accuracy"] > 0.9 and result["real"]["fcd"] == pytest.approx(0, abs=1e-6)
    assert result["real"]["thickness_r"] > 0.6 and result["real"]["slant_r"] > 0.6
    assert result["stage1_upsampled"]["class_accuracy"] > 0.7  # a blurred digit is still mostly readable


def test_agreement_of_images_unrelated_to_the_captions_is_at_chance(held_out, text):
    shuffled = to_signed(held_out.images[torch.randperm(len(held_out), generator=torch.Generator().manual_seed(0))])
    result = S.text_image_agreement(_Replay(S.downsample(shuffled)), _Replay(shuffled), text, held_out)
    assert result["stage2"]["class_accuracy"] < 0.25
    assert abs(result["stage2"]["thickness_r"]) < 0.25 and abs(result["stage2"]["slant_r"]) < 0.25
    assert result["stage2"]["fcd"] < 20  # real digits all the same: only the pairing is wrong


# ---------------------------------------------------------------- the shipped models
def test_build_order_puts_prerequisites_first():
    order = checkpoints.build_order(["stackgan_stage2", "vae_mnist", "stackgan_stage1", "caption_encoder", "digit_classifier"])
    assert order == ["digit_classifier", "caption_encoder", "stackgan_stage1", "stackgan_stage2", "vae_mnist"]
    assert checkpoints.build_order(list(checkpoints.REGISTRY))[:5] == list(checkpoints.PREREQUISITES)


def test_shipped_stages_reproduce_their_recorded_agreement():
    record = checkpoints.read_record("stackgan_stage2")
    stage_one, stage_two, text = S.load_stackgan(verbose=False)
    recipe = checkpoints.REGISTRY["stackgan_stage2"]
    test = C.CaptionedDigits(train=False, seed=recipe.seed + 1, verbose=False)
    assert S.text_image_agreement(stage_one, stage_two, text, test, seed=recipe.seed) == record["quality"]
    quality = record["quality"]
    assert quality["stage1_upsampled"] == checkpoints.read_record("stackgan_stage1")["quality"]["stage1_upsampled"]
    assert quality["stage2"]["class_accuracy"] > 0.15  # chance: 0.1 (1,000 captions: standard error about 0.013)
    assert quality["stage2"]["thickness_r"] > 0.3 and quality["stage2"]["slant_r"] > 0.3
    assert quality["stage2"]["fcd"] < quality["stage1_upsampled"]["fcd"]  # Stage-II adds the detail Stage-I lacks


def test_the_shipped_ablation_weights_are_the_recorded_ablation():
    record = checkpoints.read_record("stackgan_stage1_no_ca")
    ablation = S.read_ablation("no_ca")
    assert record["quality"] == ablation["quality"] and record["seed"] == ablation["recipe"]["seed"]
    assert not checkpoints.load("stackgan_stage1_no_ca", verbose=False).generator.ca.augment


def test_the_ablation_is_recorded_with_the_shipped_recipe():
    recipe = checkpoints.REGISTRY["stackgan_stage1"]
    record = S.read_ablation("no_mismatch")
    assert record["recipe"] == {"model_kwargs": recipe.model_kwargs, "train_kwargs": recipe.train_kwargs, "seed": recipe.seed}
    assert record["changes"]["training"] == {"mismatched": False} and record["epochs"] == recipe.train_kwargs["epochs"]
    assert record["shipped_stage1_quality"] == checkpoints.read_record("stackgan_stage1")["quality"]
    assert 0 <= record["quality"]["stage1_upsampled"]["class_accuracy"] <= 1
    with pytest.raises(FileNotFoundError, match="python -m course_utils.models.stackgan ablation"):
        S.read_ablation("not_run")
