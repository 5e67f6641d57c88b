"""Fast stand-ins for the ichmodel calls the viewer's workers make (scan, load, measure,
predict), so GUI tests exercise the window's flow in milliseconds and can make a job slow or
failing on purpose. ``install(monkeypatch)`` patches :mod:`ichviewer.jobs` and returns the
:class:`FakeBackend` whose knobs a test may turn."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichmodel.errors import NoDicomFoundError
from ichmodel.measure.types import ABC2, Measurement, MeasureParams
from ichmodel.progress import Progress
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
    return Volume(hu, spacing, meta=meta, warnings=("gantry tilt of 12° corrected",))


def blob_mask(shape=SHAPE) -> np.ndarray:
    nz, ny, nx = shape
    z, y, x = np.mgrid[0:nz, 0:ny, 0:nx]
    cz, cy, cx = nz * 0.6, ny * 0.4, nx * 0.6
    return ((z - cz) / 2.5) ** 2 + ((y - cy) / 12) ** 2 + ((x - cx) / 9) ** 2 < 1


@dataclass(frozen=True)
class FakeSeries:
    series_uid: str
    description: str
    modality: str = "CT"
    n_images: int = SHAPE[0]
    picked: bool = False
    reason: str = ""
    warnings: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class FakeScan:
    series: list
    picked: FakeSeries | None
    n_skipped_files: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class FakePrediction:
    predicted_volume_ml: float
    size_mm: float
    poor_outcome_probability: float
    cam: np.ndarray
    model_name: str = "tiny-untrained"
    model_sha256: str = "0" * 64
    device: str = "cpu (fp32)"
    timings_s: dict = field(default_factory=lambda: {"preprocess": 0.01, "forward": 0.02})
    warnings: tuple[str, ...] = ()


@dataclass
class FakeModel:
    name: str = "untrained ResNet10 (tiny)"
    sha256: str = "0" * 64
    path: Path | None = None
    card: dict = field(default_factory=lambda: {"training_data": "none (untrained)"})
    metrics: dict = field(default_factory=dict)


@dataclass
class FakeBackend:
    predict_steps: int = 3
    predict_step_s: float = 0.0
    predict_busy_s: float = 0.0  # CPU work per step (numpy on one core, GIL released)
    predict_volume_ml: float = 9.5
    load_step_s: float = 0.0
    fail_predict: bool = False
    calls: list = field(default_factory=list)
    closed: list = field(default_factory=list)  # names of generators closed before the end

    # --- the patched functions ---
    def scan_study(self, source):
        self.calls.append(("scan", source))
        source = source if isinstance(source, list) else Path(source)
        if isinstance(source, Path) and not (source / "marker.txt").exists():
            raise NoDicomFoundError(f"{source} holds no DICOM files. Choose a study folder.")
        name = source.name if isinstance(source, Path) else "files"
        picked = FakeSeries(
            f"uid-{name}-axial",
            f"{name} axial 5mm",
            picked=True,
            reason="auto-picked: axial head NCCT, most slices",
        )
        other = FakeSeries(
            f"uid-{name}-bone",
            f"{name} bone 1mm",
            n_images=40,
            reason="bone kernel; a soft-tissue series is preferred",
        )
        return FakeScan([picked, other], picked, n_skipped_files=2)

    def load_series(self, info):
        self.calls.append(("load", info.series_uid))
        try:
            for i in range(3):
                if self.load_step_s:
                    time.sleep(self.load_step_s)
                yield Progress("load", i + 1, 3, f"reading slice batch {i + 1}")
        except GeneratorExit:
            self.closed.append("load")
            raise
        return make_volume(info.description)

    def measure(self, volume, hu_min=None, hu_max=None):
        self.calls.append(("measure", hu_min, hu_max))
        lo = 50.0 if hu_min is None else hu_min
        hi = 90.0 if hu_max is None else hu_max
        params = MeasureParams(hu_min=lo, hu_max=hi)
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
            warnings=(),
            params=params,
        )

    def load_model(self, cache, device=None):
        self.calls.append(("load_model",))
        model = FakeModel()
        cache.set_model(model)
        return model

    def predict(self, volume, cache, *, device="auto", cam_head="volume"):
        """Returns the progress generator; the knobs are read now, at the job's start, so a
        test may change them for the next job while this one runs."""
        self.calls.append(("predict", cam_head, device))
        steps, busy_s, step_s = self.predict_steps, self.predict_busy_s, self.predict_step_s
        fail, volume_ml = self.fail_predict, self.predict_volume_ml

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
            return FakePrediction(volume_ml, 26.0, 0.42, cam)

        return run()


def install(monkeypatch) -> FakeBackend:
    from ichviewer import jobs

    backend = FakeBackend()
    monkeypatch.setattr(jobs, "scan_study", backend.scan_study)
    monkeypatch.setattr(jobs, "load_series", backend.load_series)
    monkeypatch.setattr(
        jobs.Measurer,
        "measure",
        lambda self, lo=None, hi=None: backend.measure(self.volume, lo, hi),
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
