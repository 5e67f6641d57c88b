"""Evaluation metrics against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from ichmodel.train.metrics import (
    accuracy,
    evaluation_metrics,
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
