"""Captioned digits: measured properties against oracles, captions true of their images, tokens, the text encoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.draw import line
from skimage.measure import moments_central

from course_utils import captions as C


@pytest.fixture(scope="module")
def test_digits():
    return C.CaptionedDigits(train=False, seed=3, verbose=False)


def _bar(top: tuple[int, int], bottom: tuple[int, int], width: int = 1) -> np.ndarray:
    """A straight stroke from ``top`` (row, col) to ``bottom``, ``width`` pixels wide (horizontally)."""
    image = np.zeros((28, 28))
    for shift in range(width):
        rr, cc = line(top[0], top[1] + shift, bottom[0], bottom[1] + shift)
        image[rr, cc] = 1.0
    return image


# ---------------------------------------------------------------- measurements
def test_slant_matches_skimage_moments_and_points_right_for_a_right_leaning_stroke():
    leaning_right = _bar((4, 16), (24, 10))  # the top is 6 pixels right of the bottom, 20 rows up
    leaning_left = _bar((4, 10), (24, 16))
    upright = _bar((4, 13), (24, 13))
    props = C.measure_properties(np.stack([leaning_right, leaning_left, upright]))
    assert props["slant"][0] == pytest.approx(6 / 20, abs=0.02)
    assert props["slant"][1] == pytest.approx(-6 / 20, abs=0.02)
    assert props["slant"][2] == pytest.approx(0.0, abs=1e-9)
    assert C.slant_degrees(props["slant"][0]) == pytest.approx(math.degrees(math.atan(0.3)), abs=1.5)
    rng = np.random.default_rng(0)
    images = rng.random((5, 28, 28)) ** 4
    props = C.measure_properties(images)
    for image, slant, size in zip(images, props["slant"], props["size"]):
        mu = moments_central(image, order=2)  # mu[i, j]: rows^i cols^j; rows grow downwards
        assert slant == pytest.approx(-mu[1, 1] / mu[2, 0], rel=1e-9)
        assert size == pytest.approx(math.sqrt((mu[2, 0] + mu[0, 2]) / mu[0, 0]), rel=1e-9)


def test_thickness_is_the_stroke_width_and_offsets_locate_the_ink():
    thin, thick = _bar((4, 13), (23, 13), width=1), _bar((4, 12), (23, 12), width=4)
    props = C.measure_properties(torch.tensor(np.stack([thin, thick])).unsqueeze(1))
    assert props["thickness"][0] == pytest.approx(1.0, abs=0.15)
    assert props["thickness"][1] == pytest.approx(4.0, abs=0.6)
    assert props["ink_pixels"].tolist() == [20, 80]
    assert props["offset_x"][0] == pytest.approx(13 - 13.5) and props["offset_y"][0] == pytest.approx(13.5 - 13.5)
    blank = C.measure_properties(np.zeros((28, 28)))
    assert all(float(v[0]) == 0.0 for v in blank.values())


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 27, 28)), "28x28"),
    (np.zeros((3, 2, 28, 28)), "28x28"),
    (np.full((2, 28, 28), 255.0), r"\[0, 1\]"),
    (np.zeros((2, 28, 28), dtype=np.uint8), "uint8"),
    (-np.ones((2, 28, 28)), "to_unit"),
])
def test_bad_images_get_a_clear_error(bad, message):
    with pytest.raises(ValueError, match=message):
        C.measure_properties(bad)


# ---------------------------------------------------------------- captions
def test_every_caption_is_true_of_its_image_when_remeasured(test_digits):
    thresholds = C.training_thresholds()
    props = C.measure_properties(test_digits.images)  # measured again, from the images alone
    for i, caption in enumerate(test_digits.captions):
        said = C.parse_caption(caption)
        assert said["digit"] == int(test_digits.labels[i]), caption
        label = said["digit"]
        thick_low, thick_high = thresholds.cuts["thickness"][label]
        size_low, size_high = thresholds.cuts["size"][label]
        value = props["thickness"][i]
        assert {0: value <= thick_low, 1: thick_low < value <= thick_high, 2: value > thick_high}[said["thickness"]], caption
        value = props["size"][i]
        assert {0: value <= size_low, 1: size_low < value <= size_high, 2: value > size_high}[said["size"]], caption
        degrees = C.slant_degrees(props["slant"][i])
        assert {0: degrees <= -6 + 1e-6, 1: abs(degrees) <= 6 + 1e-6, 2: degrees >= 6 - 1e-6}[said["slant"]], caption


def test_thresholds_come_from_the_training_digits_only(test_digits):
    train = C.CaptionedDigits(train=True, limit=50, verbose=False)
    assert train.thresholds is test_digits.thresholds is C.training_thresholds()
    images, labels, _ = C._training_split(None)
    props = C.measure_properties(images)
    np.testing.assert_allclose(C.training_thresholds().cuts["thickness"][0], np.quantile(props["thickness"], [1 / 3, 2 / 3]))
    sevens = props["size"][labels == 7]
    np.testing.assert_allclose(C.training_thresholds().cuts["size"][7], np.quantile(sevens, [1 / 3, 2 / 3]))
    counts = np.bincount(C.training_thresholds().bins(props, labels)[:, 0], minlength=3)
    assert counts.min() > 0.3 * len(labels)  # tertiles: about a third in each thickness bin


def test_captions_are_deterministic_given_a_seed_and_vary_with_it(test_digits):
    labels, bins = test_digits.labels.numpy(), test_digits.bins
    assert C.make_captions(labels, bins, 5) == C.make_captions(labels, bins, 5)
    assert C.CaptionedDigits(train=False, seed=3, limit=100, verbose=False).captions == test_digits.captions[:100]
    other = C.make_captions(labels, bins, 6)
    assert sum(a != b for a, b in zip(other, C.make_captions(labels, bins, 5))) > 0.5 * len(labels)
    assert {C.parse_caption(c)["digit"] for c in other} == set(range(10))


def test_wording_varies_and_articles_agree():
    captions = C.make_captions(np.repeat(np.arange(10), 30), np.tile([[0, 1, 2]], (300, 1)), seed=0)
    assert len(set(captions)) > 150
    starts = {c.split()[0] for c in captions}
    assert {"a", "an", "the"} <= starts
    for caption in captions:
        words = caption.replace(",", "").split()
        for article, after in zip(words, words[1:]):
            if article in {"a", "an"}:
                expected = "an" if after in {"eight", "8", "upright"} else "a"
                assert article == expected, caption
    words = [w for c in captions for w in c.replace(",", " ").replace(":", " ").split()]
    numerals, spelled = sum(w.isdigit() for w in words), sum(w in C.DIGIT_WORDS for w in words)
    assert numerals + spelled == len(captions) and min(numerals, spelled) > 0.3 * len(captions)


@pytest.mark.parametrize("caption, expected", [
    ("a small, thin three leaning right", {"digit": 3, "thickness": 0, "slant": 2, "size": 0}),
    ("the digit 7: thick, large, upright", {"digit": 7, "thickness": 2, "slant": 1, "size": 2}),
    ("an 8 standing upright, mid-sized with", None),
])
def test_parse_caption_reads_captions_back_and_rejects_incomplete_ones(caption, expected):
    if expected is None:
        with pytest.raises(ValueError, match="thickness exactly once"):
            C.parse_caption(caption)
    else:
        assert C.parse_caption(caption) == expected


def test_make_captions_rejects_bad_bins():
    with pytest.raises(ValueError, match="bins 0, 1 or 2"):
        C.make_captions([3], [[0, 3, 1]])
    with pytest.raises(ValueError, match="2 labels but 1 rows"):
        C.make_captions([3, 4], [[0, 1, 1]])


def test_summary_reports_every_property_and_word(test_digits):
    summary = C.summarize(test_digits)
    assert set(summary["properties"]) == set(C.PROPERTY_NAMES)
    assert summary["properties"]["slant"]["quantiles"]["0.5"] == pytest.approx(np.median(test_digits.properties["slant"]), abs=1e-3)
    for counts in summary["bins"].values():
        assert sum(counts.values()) == len(test_digits)
    n_digit_mentions = sum(summary["words"].get(w, 0) for w in C.DIGIT_WORDS) + sum(summary["words"].get(str(d), 0) for d in range(10))
    assert n_digit_mentions == len(test_digits)
    text = C.format_summary(summary)
    assert "test split: 1,000 digits" in text and "thickness bins" in text


# ---------------------------------------------------------------- tokens
def test_tokens_round_trip_and_pad_with_zero(test_digits):
    assert C.VOCAB.decode(test_digits.tokens) == test_digits.captions
    assert test_digits.tokens.shape == (len(test_digits), C.VOCAB.max_len)
    lengths = (test_digits.tokens != 0).sum(1)
    assert int(lengths.max()) <= C.VOCAB.max_len and int(lengths.min()) >= 5
    assert C.VOCAB.words[0] == "<pad>" and len(set(C.VOCAB.words)) == len(C.VOCAB)


def test_the_checkpoint_recipe_knows_the_vocabulary_size():
    from course_utils.checkpoints import REGISTRY

    assert REGISTRY["caption_encoder"].model_kwargs["vocab_size"] == len(C.VOCAB)


@pytest.mark.parametrize("caption, message", [
    ("a purple seven", "outside the caption vocabulary.*purple"),
    ("", "no words"),
    ("a " * 20 + "seven", "at most"),
])
def test_unknown_words_and_bad_captions_get_a_clear_error(caption, message):
    with pytest.raises(ValueError, match=message):
        C.VOCAB.encode(caption)


# ---------------------------------------------------------------- the text encoder
def test_text_encoder_shapes_unit_length_and_padding_does_not_matter():
    torch.manual_seed(0)
    encoder = C.TextEncoder().eval()
    captions = ["a small, thin three leaning right", "7, big and bold, slanted left"]
    tokens = C.VOCAB.encode(captions)
    phi = encoder(tokens)
    assert phi.shape == (2, C.EMBED_DIM)
    torch.testing.assert_close(phi.norm(dim=1), torch.ones(2))
    longer = torch.cat([tokens, torch.zeros(2, 5, dtype=torch.int64)], dim=1)  # more padding changes nothing
    torch.testing.assert_close(encoder(longer), phi)
    torch.testing.assert_close(encoder.embed(captions[1]), phi[1:])
    images = torch.rand(3, 1, 28, 28)
    assert C.ImageEncoder()(images).shape == (3, C.EMBED_DIM)
    assert C.CaptionEncoder()(images, tokens).shape == (3, 2)


@pytest.mark.parametrize("tokens, message", [
    (torch.zeros(2, 9), "integer token ids"),
    (torch.zeros(9, dtype=torch.int64), r"\(B, L\)"),
    (torch.full((2, 9), 999, dtype=torch.int64), "token ids must lie"),
    (torch.zeros(2, 9, dtype=torch.int64), "all padding"),
])
def test_text_encoder_rejects_bad_tokens(tokens, message):
    with pytest.raises(ValueError, match=message):
        C.TextEncoder()(tokens)


def test_matching_loss_equals_torch_cross_entropy_both_ways():
    logits = torch.randn(6, 6)
    expected = (F.cross_entropy(logits, torch.arange(6)) + F.cross_entropy(logits.T, torch.arange(6))) / 2
    torch.testing.assert_close(C.matching_loss(logits), expected)
    keys = torch.tensor([0, 1, 1, 2, 3, 3])  # pairs 1-2 and 4-5 fit each other's captions
    targets = (keys[:, None] == keys[None, :]).float()
    targets = targets / targets.sum(1, keepdim=True)
    expected = (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2
    torch.testing.assert_close(C.matching_loss(logits, keys), expected)
    with pytest.raises(ValueError, match="square"):
        C.matching_loss(torch.randn(3, 4))


def test_a_short_training_run_lowers_the_matching_loss():
    torch.manual_seed(0)
    digits = C.CaptionedDigits(train=True, limit=512, verbose=False)
    history = C.train_caption_encoder(C.CaptionEncoder(), digits, epochs=4, batch_size=64, progress=False)
    assert len(history["loss"]) == 4 * 8 and history["epoch_end"] == [8, 16, 24, 32]
    assert np.mean(history["loss"][-8:]) < np.mean(history["loss"][:8]) - 0.3


def test_shipped_text_encoder_retrieves_the_right_digits(test_digits):
    from course_utils import checkpoints

    encoder = C.load_text_encoder(verbose=False)
    assert not any(p.requires_grad for p in encoder.parameters())
    model = checkpoints.load("caption_encoder", verbose=False)
    with torch.no_grad():
        scores = model.text(test_digits.tokens[:300]) @ model.image(test_digits.images[:300]).T
    best = scores.argmax(1)
    assert (test_digits.labels[best] == test_digits.labels[:300]).float().mean() > 0.8  # chance: about 0.1
    record = checkpoints.read_record("caption_encoder")
    assert record["quality"]["retrieval_class"] > 5 * record["quality"]["retrieval_class_chance"]
