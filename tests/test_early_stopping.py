"""The validation split of early stopping follows the structure of the missing entries."""

import numpy as np
import pytest

from sktensorflow._early_stopping import missing_fibre_axes, validation_split


def photo_mask(rng, shape=(20, 30), channels=3, p_missing=0.6):
    pixels = rng.random(shape) >= p_missing
    return np.repeat(pixels[:, :, None], channels, axis=2)


def test_whole_pixels_are_withheld_when_whole_pixels_are_missing():
    observed = photo_mask(np.random.default_rng(0))
    heldout = validation_split(observed, 0.1, np.random.RandomState(0))
    assert missing_fibre_axes(observed) == (2,)
    assert not (heldout & ~observed).any()
    assert (heldout == heldout[:, :, :1]).all()  # every channel of a withheld pixel
    assert heldout.sum() == pytest.approx(0.1 * observed.sum(), abs=3)


def test_single_entries_are_withheld_when_entries_are_missing_at_random():
    rng = np.random.default_rng(0)
    observed = rng.random((20, 30, 3)) < 0.5
    heldout = validation_split(observed, 0.2, np.random.RandomState(0))
    assert missing_fibre_axes(observed) == ()
    assert not (heldout & ~observed).any()
    assert not (heldout == heldout[:, :, :1]).all()
    assert heldout.sum() == round(0.2 * observed.sum())


@pytest.mark.parametrize(
    "observed",
    [
        np.ones((6, 5, 3), dtype=bool),  # nothing missing
        np.repeat(np.arange(6) % 2 == 0, 15).reshape(6, 5, 3),  # whole samples missing
    ],
    ids=["full", "whole-samples"],
)
def test_no_fibre_structure_without_structure_within_a_sample(observed):
    assert missing_fibre_axes(observed) == ()
    heldout = validation_split(observed, 0.2, np.random.RandomState(0))
    assert heldout.sum() == round(0.2 * observed.sum())


def test_fibres_along_several_axes():
    rng = np.random.default_rng(1)
    rows = rng.random((10, 4)) < 0.5  # (sample, axis 1) pattern, constant along axes 2, 3
    observed = np.broadcast_to(rows[:, :, None, None], (10, 4, 3, 2)).copy()
    heldout = validation_split(observed, 0.25, np.random.RandomState(0))
    assert missing_fibre_axes(observed) == (2, 3)
    assert (heldout == heldout[:, :, :1, :1]).all()
