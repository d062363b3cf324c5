"""Batch mixing (mixup, CutMix), its Beta draws, and the dihedral augmentation."""

from __future__ import annotations

import pytest
import torch

from eurosat_kedro.training.augment import (
    AUGMENT_OPTIONS,
    MIXING_OPTIONS,
    beta_draw,
    dihedral,
    mix_batch,
)


def batch(n: int = 6) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, 8, 8).clone()


def test_mixup_blends_each_image_with_its_partner():
    images = batch()
    mixed = mix_batch(images, torch.Generator().manual_seed(0), mixup_alpha=0.4)
    assert 0.0 <= mixed.share <= 1.0
    expected = mixed.share * images + (1 - mixed.share) * images[mixed.partner]
    assert torch.allclose(mixed.images, expected)
    assert sorted(mixed.partner.tolist()) == list(range(len(images)))


@pytest.mark.parametrize("seed", range(5))
def test_cutmix_share_is_the_exact_area_kept(seed: int):
    images = batch()
    mixed = mix_batch(images, torch.Generator().manual_seed(seed), cutmix_alpha=1.0)
    for i, partner in enumerate(mixed.partner.tolist()):
        if partner == i:
            continue
        kept = (mixed.images[i, 0] == images[i, 0]).float().mean().item()
        assert kept == pytest.approx(mixed.share)
        pasted = mixed.images[i, 0][mixed.images[i, 0] != images[i, 0]]
        assert torch.all(pasted == images[partner, 0, 0, 0])


def test_no_alpha_or_probability_zero_leaves_the_batch():
    generator = torch.Generator().manual_seed(0)
    assert mix_batch(batch(), generator) is None
    assert mix_batch(batch(), generator, mixup_alpha=1.0, probability=0.0) is None


def test_probability_mixes_about_that_share_of_batches():
    generator = torch.Generator().manual_seed(0)
    draws = [mix_batch(batch(), generator, cutmix_alpha=1.0, probability=0.3) for _ in range(400)]
    assert 0.22 < sum(d is not None for d in draws) / len(draws) < 0.38


def test_same_generator_state_gives_the_same_mix():
    first = mix_batch(batch(), torch.Generator().manual_seed(3), 0.2, 1.0)
    second = mix_batch(batch(), torch.Generator().manual_seed(3), 0.2, 1.0)
    assert torch.equal(first.images, second.images) and first.share == second.share


def test_dihedral_keeps_each_image_a_rotation_or_mirror_of_itself():
    images = torch.rand(16, 3, 8, 8)
    out = dihedral(images, torch.Generator().manual_seed(0))
    for original, augmented in zip(images, out, strict=True):
        mirrored = original.flip(-1)
        views = [torch.rot90(v, k, (-2, -1)) for k in range(4) for v in (original, mirrored)]
        assert any(torch.equal(augmented, view) for view in views)


def test_beta_draws_come_from_the_generator_and_match_the_pinned_values():
    """Guards the one sampler with a generator (``Gamma.sample(generator=)``): an upgrade that
    drops the argument, falls back to the global RNG or changes the draws fails here, and with
    it the bit-identical resume."""
    torch.manual_seed(0)
    first = [beta_draw(0.2, torch.Generator().manual_seed(3)) for _ in range(2)]
    torch.manual_seed(1)  # the global RNG must not matter
    second = beta_draw(0.2, torch.Generator().manual_seed(3))
    assert first == [second, second]
    assert 0.0 <= second <= 1.0
    # the share the torch._standard_gamma version of mix_batch drew (torch 2.14.1)
    mixed = mix_batch(batch(), torch.Generator().manual_seed(3), mixup_alpha=0.2)
    assert mixed.share == pytest.approx(0.978847324848175, abs=1e-12)
    assert mixed.partner.tolist() == [0, 5, 1, 3, 4, 2]


def test_the_config_keys_are_the_settings_of_the_augmentations():
    assert {"flips": bool, "rot90": bool} == AUGMENT_OPTIONS
    assert {"mixup_alpha": float, "cutmix_alpha": float, "probability": float} == MIXING_OPTIONS
