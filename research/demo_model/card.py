"""The shipped demo model's card and metrics, written from what the run measured.

Every number in the text comes from the run's records or the held-out evaluation, so a rerun
cannot leave a stale figure behind. The card records provenance ``synthetic`` (the viewer's
banner comes from that field, not from these words).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichmodel.checkpoint import LoadedModel
from ichmodel.flip_axes import flip_words
from ichmodel.model_card import ModelCard, Provenance
from ichmodel.nets import NetConfig
from ichmodel.train.metrics import EvaluationMetrics, PointingRates
from research.demo_model.choose import Choice
from research.demo_model.data import DataPlan
from research.demo_model.scale import TAIL_MEDIAN_ML


@dataclass(frozen=True)
class RunRecords:
    """What a finished training run left in its folder (config, history, split, where)."""

    train_config: dict[str, Any]
    net_config: dict[str, Any]
    history: list[dict[str, Any]]
    n_train: int
    n_val: int
    #: "precision bf16, on one NVIDIA H200 GPU"
    trained_on: str


def _pct(rate: float | None) -> str:
    return f"{100 * (rate or 0):.0f}"


def heldout_metrics(m: EvaluationMetrics, pg: dict[str, PointingRates], model: LoadedModel,
                    choice: Choice) -> dict[str, Any]:
    """The card's ``metrics``: held-out volume/outcome figures and the pointing game."""
    out: dict[str, Any] = {
        "heldout_n": m.n,
        "heldout_mae_ml": m.mae_ml,
        "heldout_mse_ml2": m.mse_ml2,
        "heldout_mape_pct": m.mape_pct,
        "heldout_mape_skipped_zero": m.n_mape_skipped_zero,
        "heldout_accuracy_proxy": m.accuracy,
        "heldout_auc_proxy": m.auc,
    }
    for layer, rates in pg.items():
        out[f"pointing_game_{layer}_argmax"] = rates.peak_in_bleed
        out[f"pointing_game_{layer}_plateau"] = rates.plateau_in_bleed
        out[f"pointing_game_{layer}_near_10mm"] = rates.near_bleed
        out[f"pointing_game_{layer}_slice"] = rates.slice_peak_in_bleed
    out["pointing_game_n_bleeds"] = pg["layer4"].n_bleeds
    out.update({
        "best_epoch": model.training.get("best_epoch"),
        "chosen_checkpoint": choice.checkpoint,
        "bn_recalibrated": choice.bn_recalibrated,
        "val_mae_ml": choice.val_mae_ml,
    })
    return out


def _augment_words(augment: dict[str, Any]) -> str:
    flips = [name for key, name in (("flip_lr_probability", "left-right"),
                                    ("flip_ap_probability", "front-back"),
                                    ("flip_si_probability", "head-foot"))
             if augment.get(key, 0) > 0]
    return f"{'/'.join(flips) or 'no'} flips, rotation/shift/intensity"


def _variant_words(nc: NetConfig) -> str:
    """How the architecture departs from the paper's, or ""."""
    paper = NetConfig()
    if (nc.stage_z_strides, nc.stage_xy_strides, nc.size_head) == (
            paper.stage_z_strides, paper.stage_xy_strides, paper.size_head):
        return ""
    return (f"; stage strides z {'/'.join(map(str, nc.stage_z_strides))}, in-plane "
            f"{'/'.join(map(str, nc.stage_xy_strides))} (the paper: "
            f"{'/'.join(map(str, paper.stage_z_strides))} and "
            f"{'/'.join(map(str, paper.stage_xy_strides))}), {nc.size_head} size head "
            f"(the paper: {paper.size_head})")


def demo_card(model: LoadedModel, m: EvaluationMetrics, pg: dict[str, PointingRates],
              shapes: dict[str, str], records: RunRecords, choice: Choice,
              data_plan: DataPlan, *, cam_flip_axes: tuple[str, ...], init: Path | None,
              training_note: str) -> ModelCard:
    """The card of a finalized demo model (ResNet34 at depth 34; the depth is named as is)."""
    n_params_m = sum(p.numel() for p in model.net.parameters()) / 1e6
    auc_text = "n/a" if m.auc is None else f"{m.auc:.3f}"
    train_seeds, tail_seeds, test_seeds = (data_plan.train_seeds, data_plan.tail_seeds,
                                           data_plan.test_seeds)
    seeds_text = f"seeds {train_seeds.start}..{train_seeds.stop - 1}"
    if data_plan.n_tail:
        seeds_text += (f" and {data_plan.n_tail} large-bleed phantoms (median "
                       f"{TAIL_MEDIAN_ML:.0f} ml, seeds {tail_seeds.start}..{tail_seeds.stop - 1})")
    nc = model.net_config
    l4, l3 = pg["layer4"], pg.get("layer3", pg["layer4"])
    flips = f"; maps averaged over {flip_words(cam_flip_axes)} flips" if cam_flip_axes else ""
    tc = records.train_config
    summary = (
        f"Demo model bundled with ICH Viewer: ResNet{nc.depth} topology at base width "
        f"{nc.base_width} ({n_params_m:.2f} M parameters){_variant_words(nc)}, input "
        f"{shapes['input']}, trained on SYNTHETIC PHANTOMS ONLY. On held-out phantoms: volume "
        f"MAE {m.mae_ml:.2f} ml, AUC {auc_text} on the proxy outcome label. Grad-CAM pointing "
        f"game (volume head{flips}): the 3-D peak voxel lies inside the bleed for "
        f"{_pct(l4.peak_in_bleed)} % of bleeds at layer4 (default, a {shapes['layer4']} map) "
        f"and {_pct(l3.peak_in_bleed)} % at layer3; it lies within 10 mm of the bleed for "
        f"{_pct(l4.near_bleed)} % / {_pct(l3.near_bleed)} %; on the axial slice where the "
        f"bleed is largest, the in-plane peak lies inside it for "
        f"{_pct(l4.slice_peak_in_bleed)} % (layer4) / {_pct(l3.slice_peak_in_bleed)} % (layer3)."
    )
    training_data = (
        (training_note + " " if training_note else "")
        + f"{records.n_train} training and {records.n_val} validation synthetic head NCCT "
        f"phantoms (ichmodel.phantom, {seeds_text}); held-out test phantoms seeds "
        f"{test_seeds.start}..{test_seeds.stop - 1}. Outcome label is a PROXY (hematoma >= 30 "
        "ml supratentorial or >= 15 ml infratentorial), not a patient outcome. Optimiser: "
        f"{tc['optimizer']} lr {tc['lr']} (warm-up {tc['warmup_steps']} steps, "
        f"{tc['schedule']}), weight decay {tc['weight_decay']}, batch {tc['batch_size']}, "
        f"{records.history[-1]['epoch']} epochs, loss MSE(size mm) + "
        f"{tc['outcome_loss_weight']} x CE, augmentation {_augment_words(tc['augment'])}, "
        f"{records.trained_on}"
        + (f", starting from {init.name} (see selection)" if init else "")
        + f". Shipped weights: the {choice.checkpoint} checkpoint"
        + (", BatchNorm statistics recalibrated on the training phantoms (precise BN)"
           if choice.bn_recalibrated else "")
        + ". Made by research/demo_model (python -m research.demo_model train)."
    )
    return ModelCard(
        name="demo",
        summary=summary,
        training_data=training_data,
        intended_use="Demonstrating and testing the software end to end.",
        not_for="Clinical use of any kind: it has never seen a real patient's scan.",
        limitations=(
            "Synthetic phantoms differ from real CT; the outcome head only learned a volume "
            "threshold (proxy label). Fine-tune on your own labelled data (ichmodel train)."
        ),
        provenance=Provenance.SYNTHETIC,
        recommended_cam_flip_axes=cam_flip_axes,
    )
