"""Batch augmentation (pad-4 zero crop + flip) and normalisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lpg_meta.data import augment_batch, build_data, normalize_batch


def _candidates(img: torch.Tensor) -> list[torch.Tensor]:
    padded = F.pad(img, (4, 4, 4, 4))
    h, w = img.shape[-2:]
    crops = [padded[:, i : i + h, j : j + w] for i in range(9) for j in range(9)]
    return crops + [c.flip(-1) for c in crops]


def test_identity_for_none() -> None:
    x = torch.rand(3, 1, 8, 8)
    assert augment_batch(x, None, torch.Generator().manual_seed(0)) is x


def test_crop_flip_outputs_are_crops_of_the_padded_image() -> None:
    x = torch.rand(16, 3, 8, 8) + 0.1  # strictly positive, so padding zeros are visible
    out = augment_batch(x, "crop_flip", torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for img, aug in zip(x, out, strict=True):
        assert any(torch.equal(aug, c) for c in _candidates(img))
    assert (out == 0).any()  # some crop reached into the zero padding


def test_crop_flip_is_seeded_and_random() -> None:
    x = torch.rand(64, 3, 8, 8)
    a = augment_batch(x, "crop_flip", torch.Generator().manual_seed(1))
    b = augment_batch(x, "crop_flip", torch.Generator().manual_seed(1))
    c = augment_batch(x, "crop_flip", torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    flipped = sum(
        any(torch.equal(aug, cand) for cand in _candidates(img)[81:]) for img, aug in zip(x, a, strict=True)
    )
    assert 16 <= flipped <= 48


def test_normalize_and_prepare() -> None:
    b = build_data("digits", {}, seed=0)
    x = b.train.x[:32]
    z = normalize_batch(x, b)
    assert torch.allclose(z, (x - b.mean[0]) / b.std[0])
    assert torch.equal(b.prepare(x), z)  # digits has no augmentation
    m = build_data("mnist1d", {"num_samples": 2000}, seed=0)
    assert torch.equal(normalize_batch(m.train.x, m), m.train.x)
