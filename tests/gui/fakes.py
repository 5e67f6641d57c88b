"""A scripted backend for the viewer's workers (scan, load, measure, predict): it returns the
real ichmodel types (StudyScan, SeriesInfo, StudyReading, Measurement, Prediction, a tiny real
LoadedModel) without reading files or running the network, so GUI tests exercise the window's
flow in milliseconds and can make a job slow or failing on purpose. ``install(monkeypatch)``
patches :mod:`ichviewer.jobs` and returns the :class:`FakeBackend` whose knobs a test may
turn. Tests of the real pipeline are in test_real_pipeline.py."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichmodel import notices
from ichmodel.errors import NoDicomFoundError
from ichmodel.io.scan import SeriesInfo, StudyScan
from ichmodel.measure.types import ABC2, Measurement
from ichmodel.notices import Source
from ichmodel.predict import Prediction, out_of_distribution_notice
from ichmodel.progress import Progress
from ichmodel.reading import ModelIdentity, StudyReading, measure_params
from ichmodel.volume import SeriesMeta, Volume

SHAPE = (12, 96, 80)  # (z, y, x): small, non-square so aspect bugs show
SPACING = (5.0, 0.9, 0.9)


def make_volume(description: str = "Head 5mm", shape=SHAPE, spacing=SPACING) -> Volume:
    """A head-like ellipse of brain (35 HU) in a skull (1200 HU) with a 70 HU blob."""
    nz, ny, nx = shape
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx]
    r = np.sqrt(((y - ny / 2) / (0.45 * ny)) ** 2 + ((x - nx / 2) / (0.45 * nx)) ** 2)
    hu = np.full(shape, -1000.0, np.float32)
    hu[r < 1.0] = 35.0
    hu[(r >= 0.9) & (r < 1.0)] = 1200.0
    hu[blob_mask(shape)] = 70.0
    meta = SeriesMeta(
        series_description=description,
        series_uid=f"1.2.3.{description}",
        window_center_hu=35.0,
        window_width_hu=90.0,
        patient_name="Doe^Jane",
    )
    tilt = notices.info("load.gantry_tilt_corrected", "gantry tilt of 12° corrected", Source.LOAD)
    return Volume(hu, spacing, meta=meta, notices=(tilt,))


def blob_mask(shape=SHAPE) -> np.ndarray:
    nz, ny, nx = shape
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx]
    cz, cy, cx = nz * 0.6, ny * 0.4, nx * 0.6
    return ((z - cz) / 2.5) ** 2 + ((y - cy) / 12) ** 2 + ((x - cx) / 9) ** 2 < 1


def series_info(
    uid: str, description: str, *, picked: bool, reason: str, n_images: int = SHAPE[0]
) -> SeriesInfo:
    return SeriesInfo(series_uid=uid, key=uid, description=description, modality="CT",
                      n_images=n_images, picked=picked, reason=reason, notices=(), files=())


def tiny_model():
    """A real, tiny, untrained LoadedModel (its provenance says so: the window shows the
    untrained banner)."""
    from ichmodel.checkpoint import LoadedModel, weights_sha256
    from ichmodel.model_card import ModelCard, Provenance
    from ichmodel.nets.resnet3d import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig

    config = NetConfig(depth=10, base_width=2)
    net = ICHNet(config).eval()
    card = ModelCard(name="untrained ResNet10 (tiny)", training_data="none (untrained)",
                     provenance=Provenance.UNTRAINED)
    return LoadedModel(name=card.name, sha256=weights_sha256(net.state_dict()), net=net,
                       net_config=config, preprocess_config=PreprocessConfig(), card=card)


_MODEL: list = []


def shared_tiny_model():
    """One tiny model for the whole session (building it takes ~50 ms)."""
    if not _MODEL:
        _MODEL.append(tiny_model())
    return _MODEL[0]


@dataclass
class FakeBackend:
    predict_steps: int = 3
    predict_step_s: float = 0.0
    predict_busy_s: float = 0.0  # CPU work per step (numpy on one core, GIL released)
    predict_volume_ml: float = 9.5
    load_step_s: float = 0.0
    fail_predict: bool = False
    #: The gate's verdict the fake prediction carries (None: a model without a gate).
    predict_in_distribution: bool | None = None
    calls: list = field(default_factory=list)
    closed: list = field(default_factory=list)  # names of generators closed before the end

    # --- the patched functions ---
    def scan_study(self, source):
        self.calls.append(("scan", source))
        source = source if isinstance(source, list) else Path(source)
        if isinstance(source, Path) and not (source / "marker.txt").exists():
            raise NoDicomFoundError(f"{source} holds no DICOM files. Choose a study folder.")
        name = source.name if isinstance(source, Path) else "files"
        picked = series_info(
            f"uid-{name}-axial",
            f"{name} axial 5mm",
            picked=True,
            reason="auto-picked: axial head NCCT, most slices",
        )
        other = series_info(
            f"uid-{name}-bone",
            f"{name} bone 1mm",
            picked=False,
            n_images=40,
            reason="bone kernel; a soft-tissue series is preferred",
        )
        return StudyScan(series=(picked, other), picked=picked, n_files=14, n_skipped_files=2,
                         skipped=(), notices=())

    def load_reading(self, scan, info, label):
        self.calls.append(("load", info.series_uid))
        try:
            for i in range(3):
                if self.load_step_s:
                    time.sleep(self.load_step_s)
                yield Progress("load", i + 1, 3, f"reading slice batch {i + 1}")
        except GeneratorExit:
            self.closed.append("load")
            raise
        return StudyReading(volume=make_volume(info.description), source_label=label, scan=scan,
                            series=info)

    def measure(self, volume, hu_range=None):
        self.calls.append(("measure",) + (tuple(hu_range) if hu_range else (None, None)))
        params = measure_params(hu_range)
        lo, hi = params.hu_min, params.hu_max
        mask = (volume.hu >= lo) & (volume.hu <= hi)
        ml = float(mask.sum()) * volume.voxel_volume_ml
        z = int(np.argmax(mask.reshape(mask.shape[0], -1).sum(axis=1))) if mask.any() else None
        abc2 = ABC2(
            a_mm=21.6,
            b_mm=16.2,
            c_mm=20.0,
            volume_ml=3.5,
            slice_index=z,
            a_segment_zyx=((z or 0, 26.0, 48.0), (z or 0, 50.0, 48.0)),
            b_segment_zyx=((z or 0, 38.0, 39.0), (z or 0, 38.0, 57.0)),
        )
        return Measurement(
            hematoma_mask=mask,
            hematoma_volume_ml=ml,
            abc2=abc2,
            location="lobar",
            location_description="right lobar (best effort)",
            ivh=False,
            ivh_volume_ml=0.0,
            ivh_mask=np.zeros_like(mask),
            intracranial_volume_ml=1200.0,
            n_components=1,
            status="hematoma measured",
            notices=(),
            params=params,
        )

    def load_model(self, cache, device=None):
        self.calls.append(("load_model",))
        model = shared_tiny_model()
        cache.set_model(model)
        return model

    def predict(self, reading, cache, *, device="auto", cam_head="volume"):
        """Returns the progress generator; the knobs are read now, at the job's start, so a
        test may change them for the next job while this one runs."""
        self.calls.append(("predict", cam_head, device))
        steps, busy_s, step_s = self.predict_steps, self.predict_busy_s, self.predict_step_s
        fail, volume_ml = self.fail_predict, self.predict_volume_ml
        verdict = self.predict_in_distribution
        volume = reading.volume
        model = cache.loaded or shared_tiny_model()

        def run():
            try:
                for i in range(steps):
                    if busy_s:  # one core of numpy work, the GIL released inside
                        end = time.perf_counter() + busy_s
                        a = np.full(200_000, 0.5)
                        while time.perf_counter() < end:
                            a = np.tanh(a * 1.0001)
                    if step_s:
                        time.sleep(step_s)
                    yield Progress("forward", i + 1, steps, f"step {i + 1}")
                if fail:
                    raise RuntimeError("the fake model exploded")
            except GeneratorExit:
                self.closed.append("predict")
                raise
            cam = blob_mask(volume.shape).astype(np.float32)
            if cam_head == "prognosis":
                cam = cam * 0.5
            prediction = Prediction(
                predicted_volume_ml=volume_ml, size_mm=float((volume_ml * 1000) ** (1 / 3)),
                poor_outcome_probability=0.42, cam=cam, cam_head=cam_head, cam_layer="layer4",
                model_name=model.name, model_sha256=model.sha256, device="cpu (fp32)",
                timings_s={"preprocess": 0.01, "forward": 0.02},
                notices=model.notices + (
                    (out_of_distribution_notice(41.5, 7.5),) if verdict is False else ()),
                in_distribution=verdict,
                ood_score=None if verdict is None else (3.0 if verdict else 41.5),
                ood_threshold=None if verdict is None else 7.5,
            )
            return prediction, ModelIdentity.of(model)

        return run()


def install(monkeypatch) -> FakeBackend:
    from ichviewer import jobs

    backend = FakeBackend()
    monkeypatch.setattr(jobs, "scan_study", backend.scan_study)
    monkeypatch.setattr(jobs, "load_reading", backend.load_reading)
    monkeypatch.setattr(
        jobs.Measurer,
        "measure",
        lambda self, hu_range=None: backend.measure(self.reading.volume, hu_range),
    )
    monkeypatch.setattr(jobs, "load_model", backend.load_model)
    monkeypatch.setattr(jobs, "predict", backend.predict)
    return backend


def study_dir(tmp_path: Path, name: str = "study") -> Path:
    """A folder the fake scanner accepts."""
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "marker.txt").write_text("fake study")
    return folder
