"""Batch mixing (mixup, CutMix), its Beta draws, and the dihedral augmentation."""

from __future__ import annotations

import pytest
import torch

from eurosat_kedro.preprocessing import MEAN, STD, normalize
from eurosat_kedro.training.augment import (
    AUGMENT_OPTIONS,
    MIXING_OPTIONS,
    PHOTOMETRIC_OPTIONS,
    augment_batch,
    beta_draw,
    dihedral,
    mix_batch,
    photometric,
)
from tests.conftest import tiny_arrays


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
    assert {"flips": bool, "rot90": bool, "photometric": dict} == AUGMENT_OPTIONS
    assert set(PHOTOMETRIC_OPTIONS) == {"probability", "gain", "contrast", "gamma", "haze"}
    assert {"mixup_alpha": float, "cutmix_alpha": float, "probability": float} == MIXING_OPTIONS


def normalised(n: int = 40, seed: int = 0) -> torch.Tensor:
    """``n`` generated images, normalised as training sees them (mid-range values, so that
    the shifts below never clip)."""
    images = tiny_arrays(n, n_classes=1, seed=seed)["images"] // 2 + 60
    return torch.from_numpy(normalize(images))


def raw(batch: torch.Tensor) -> torch.Tensor:
    """A normalised batch back on the 0-255 scale."""
    return batch * torch.from_numpy(STD).view(1, 3, 1, 1) + torch.from_numpy(MEAN).view(1, 3, 1, 1)


def test_photometric_off_returns_the_batch_and_draws_nothing():
    images, generator = normalised(4), torch.Generator().manual_seed(0)
    state = generator.get_state()
    assert photometric(images, generator, gain=0.2, haze=0.3) is images
    assert torch.equal(generator.get_state(), state)  # the run without it is the run before


def test_photometric_at_neutral_widths_changes_nothing_but_rounding():
    images = normalised(4)
    same = photometric(images, torch.Generator().manual_seed(0), probability=1.0)
    assert torch.allclose(same, images, atol=1e-5)


def test_photometric_gain_scales_each_image_by_one_factor_spread_over_the_range():
    images = normalised()
    out = photometric(images, torch.Generator().manual_seed(0), probability=1.0, gain=0.2)
    ratios = raw(out) / raw(images)
    per_image = ratios.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1], atol=1e-4)  # one factor per image
    factors = per_image[:, 0]
    assert 0.8 <= factors.min() < 0.85 and 1.15 < factors.max() <= 1.2
    assert abs(float(factors.mean()) - 1.0) < 0.05  # uniform around 1


def test_photometric_haze_blends_towards_the_grey_by_a_strength_up_to_haze():
    images = normalised()
    out = photometric(images, torch.Generator().manual_seed(1), probability=1.0, haze=0.3)
    before, after = raw(images).flatten(1), raw(out).flatten(1)
    strength = (after - before) / (200.0 - before)  # after = before * (1 - h) + 200 h
    assert torch.allclose(strength, strength[:, :1], atol=1e-3)
    assert strength.min() >= -1e-4 and 0.25 < strength.max() <= 0.3 + 1e-4


def test_photometric_gamma_and_contrast_stay_within_their_ranges():
    images = normalised()
    out = photometric(images, torch.Generator().manual_seed(2), probability=1.0, gamma=0.25)
    before, after = raw(images).flatten(1) / 255, raw(out).flatten(1) / 255
    exponents = (after.log() / before.log()).median(dim=1).values
    assert 0.8 - 1e-3 <= exponents.min() < 0.85 and 1.2 < exponents.max() <= 1.25 + 1e-3
    out = photometric(images, torch.Generator().manual_seed(3), probability=1.0, contrast=0.2)
    spread = raw(out).flatten(1).std(dim=1) / raw(images).flatten(1).std(dim=1)
    assert 0.8 - 1e-4 <= spread.min() < 0.85 and 1.15 < spread.max() <= 1.2 + 1e-4
    assert torch.allclose(raw(out).mean(dim=(1, 2, 3)), raw(images).mean(dim=(1, 2, 3)), atol=0.01)


def test_photometric_changes_about_probability_of_the_images_and_leaves_the_rest_exact():
    images = normalised(400)
    out = photometric(images, torch.Generator().manual_seed(0), probability=0.3, gain=0.2)
    untouched = (out == images).flatten(1).all(dim=1)
    assert 0.24 < 1 - float(untouched.float().mean()) < 0.36


def test_photometric_is_deterministic_given_the_generator():
    images, settings = normalised(8), {"probability": 0.5, "gain": 0.2, "gamma": 0.25, "haze": 0.3}
    first = photometric(images, torch.Generator().manual_seed(5), **settings)
    again = photometric(images, torch.Generator().manual_seed(5), **settings)
    other = photometric(images, torch.Generator().manual_seed(6), **settings)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_augment_batch_turns_then_changes_radiometry_from_one_generator():
    images = normalised(8)
    settings = {"flips": True, "rot90": True, "photometric": {"probability": 1.0, "haze": 0.3}}
    out = augment_batch(images, torch.Generator().manual_seed(0), settings)
    generator = torch.Generator().manual_seed(0)
    expected = photometric(dihedral(images, generator), generator, probability=1.0, haze=0.3)
    assert torch.equal(out, expected)
    plain = augment_batch(images, torch.Generator().manual_seed(0), {"flips": True, "rot90": True})
    assert torch.equal(plain, dihedral(images, torch.Generator().manual_seed(0)))
