"""Evaluation metrics against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.train.metrics import (
    POINTING_TOLERANCE_MM,
    PointingResult,
    accuracy,
    evaluation_metrics,
    pointing_game,
    pointing_rates,
    regression_metrics,
    roc_auc,
    roc_curve,
)


def test_regression_metrics_match_hand_computation():
    pred = [10.0, 20.0, 0.0, 5.0]
    ref = [12.0, 20.0, 0.0, 10.0]
    m = regression_metrics(pred, ref)
    # errors -2, 0, 0, -5
    assert m.n == 4
    assert m.mae_ml == pytest.approx(7 / 4)
    assert m.mse_ml2 == pytest.approx(29 / 4)
    # MAPE skips the 0 ml reference: (2/12 + 0/20 + 5/10) / 3
    assert m.mape_pct == pytest.approx(100 * (2 / 12 + 0 + 0.5) / 3)
    assert m.n_mape_skipped_zero == 1


def test_mape_is_none_when_all_references_are_zero():
    m = regression_metrics([1.0, 2.0], [0.0, 0.0])
    assert m.mape_pct is None and m.n_mape_skipped_zero == 2


def test_auc_and_roc_curve_by_hand():
    labels = [0, 0, 1, 1]
    scores = [0.1, 0.4, 0.35, 0.8]
    # pairs (pos, neg): (0.35>0.1) (0.35<0.4) (0.8>0.1) (0.8>0.4) -> 3/4
    assert roc_auc(labels, scores) == pytest.approx(0.75)
    curve = roc_curve(labels, scores)
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 0.5, 1.0, 1.0])
    assert curve.thresholds[0] == np.inf


def test_auc_counts_ties_as_half():
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert roc_auc([0, 1, 1, 0], [0.2, 0.9, 0.2, 0.1]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_auc_perfect_and_inverted():
    assert roc_auc([0, 0, 1], [0.1, 0.2, 0.9]) == pytest.approx(1.0)
    assert roc_auc([0, 0, 1], [0.9, 0.8, 0.1]) == pytest.approx(0.0)


def test_roc_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        roc_curve([1, 1], [0.2, 0.3])


def test_accuracy_threshold():
    assert accuracy([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert accuracy([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], threshold=0.3) == pytest.approx(0.75)


def test_evaluation_metrics_skips_unlabelled_outcomes():
    m = evaluation_metrics(
        [10.0, 20.0, 0.0, 5.0],
        [12.0, 20.0, 0.0, 10.0],
        outcome_labels=[0, None, 1, -1],
        outcome_probabilities=[0.2, 0.9, 0.7, 0.5],
    )
    assert m.n == 4 and m.n_outcome == 2
    assert m.accuracy == pytest.approx(1.0)
    assert m.auc == pytest.approx(1.0)
    d = m.to_dict()
    assert {"n", "mae_ml", "mse_ml2", "mape_pct", "accuracy", "auc"} <= set(d)


def test_evaluation_metrics_single_class_has_no_auc():
    m = evaluation_metrics([1.0], [1.0], [1], [0.9])
    assert m.auc is None and m.accuracy == pytest.approx(1.0)


def _box_mask(shape=(6, 20, 20), box=(slice(2, 4), slice(5, 9), slice(5, 9))):
    mask = np.zeros(shape, bool)
    mask[box] = True
    return mask


def _peak_at(shape, zyx, value=1.0):
    cam = np.zeros(shape, np.float32)
    cam[zyx] = value
    return cam


def test_a_map_peaking_inside_the_bleed_hits_every_reading():
    mask = _box_mask()
    r = pointing_game(_peak_at(mask.shape, (3, 6, 7)), mask, (5.0, 0.5, 0.5))
    assert r.peak_zyx == (3, 6, 7)
    assert r.peak_in_bleed and r.plateau_in_bleed and r.near_bleed
    assert r.distance_to_bleed_mm == 0.0
    # the bleed's two slices are equally large: the first is "the largest"
    assert r.largest_slice_z == 2 and r.slice_peak_in_bleed is False  # the map is 0 on z=2
    cam = _peak_at(mask.shape, (3, 6, 7))
    cam[2, 7, 7] = 0.5
    assert pointing_game(cam, mask, (5.0, 0.5, 0.5)).slice_peak_in_bleed


def test_a_map_peaking_outside_misses_and_the_distance_uses_the_spacing():
    mask = _box_mask()
    cam = _peak_at(mask.shape, (3, 6, 15))  # 7 columns right of the box's last column (8)
    r = pointing_game(cam, mask, (5.0, 2.0, 1.0))
    assert not r.peak_in_bleed and not r.plateau_in_bleed
    assert r.distance_to_bleed_mm == pytest.approx(7.0)  # 7 x 1 mm, columns are x
    assert r.near_bleed and r.tolerance_mm == POINTING_TOLERANCE_MM
    far = pointing_game(cam, mask, (5.0, 2.0, 3.0))
    assert far.distance_to_bleed_mm == pytest.approx(21.0) and not far.near_bleed
    # along z: one slice above the box at 5 mm slices
    up = pointing_game(_peak_at(mask.shape, (4, 6, 6)), mask, (5.0, 0.5, 0.5))
    assert up.distance_to_bleed_mm == pytest.approx(5.0)
    assert not pointing_game(_peak_at(mask.shape, (4, 6, 6)), mask, (5.0, 0.5, 0.5),
                             tolerance_mm=4.0).near_bleed


def test_a_flat_topped_map_points_with_its_plateau_centroid():
    mask = _box_mask()
    cam = np.zeros(mask.shape, np.float32)
    cam[2:4, 2:12, 2:12] = 1.0  # first voxel (2, 2, 2) is outside, the centroid is inside
    r = pointing_game(cam, mask)
    assert r.peak_zyx == (2, 2, 2) and not r.peak_in_bleed
    assert r.plateau_in_bleed


def test_no_map_or_a_map_without_positive_values_misses():
    mask = _box_mask()
    for cam in (None, np.zeros(mask.shape), -np.ones(mask.shape)):
        r = pointing_game(cam, mask)
        assert r.peak_zyx is None and r.distance_to_bleed_mm == float("inf")
        assert not (r.peak_in_bleed or r.plateau_in_bleed or r.near_bleed
                    or r.slice_peak_in_bleed)


def test_pointing_refuses_an_empty_mask_or_mismatched_grids():
    with pytest.raises(ValueError, match="at least one voxel"):
        pointing_game(np.ones((4, 4, 4)), np.zeros((4, 4, 4), bool))
    with pytest.raises(ValueError, match="different grids"):
        pointing_game(np.ones((4, 4, 5)), np.ones((4, 4, 4), bool))
    with pytest.raises(ValueError, match="spacing_mm"):
        pointing_game(np.ones((4, 4, 4)), np.ones((4, 4, 4), bool), (1.0, 0.0, 1.0))


def test_pointing_rates_count_each_reading():
    mask = _box_mask()
    hit = pointing_game(_peak_at(mask.shape, (3, 6, 7)), mask)
    miss = pointing_game(_peak_at(mask.shape, (3, 6, 17)), mask)
    rates = pointing_rates([hit, miss, miss, hit])
    assert rates.n_bleeds == 4 and rates.peak_in_bleed == 0.5
    assert rates.near_bleed == 1.0  # 9 voxels of 1 mm from the box
    assert isinstance(hit, PointingResult)
    none = pointing_rates([])
    assert none.n_bleeds == 0 and none.peak_in_bleed is None
    assert set(none.to_dict()) == {"n_bleeds", "peak_in_bleed", "plateau_in_bleed",
                                   "near_bleed", "slice_peak_in_bleed"}
