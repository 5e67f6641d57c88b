"""Time from opening a study to the first slice on screen and to all results, on CPU.

    .venv/bin/python bench/gui.py [STUDY] [--device cpu] [--repeats 2]

STUDY defaults to the bundled sample (``ichmodel.resources.sample_study_dir()``), or a 512×512
5 mm phantom written to a temporary folder when the sample is not there yet. The model is the
default one (demo weights when bundled, else the untrained network); its name is printed.

Three scenarios, each in a fresh process (offscreen Qt):

* ``cold``      the study is opened the moment the window exists (torch and the model load
                during the study's jobs);
* ``preloaded`` the app's normal start: the model (and the DICOM readers) load in the
                background while the window comes up, and the study is opened once they
                have (a user needs a few seconds to find a folder anyway);
* ``warm``      a second study opened in the same session (``--repeats`` opens in all).

"first slice" is stamped after the slice view has repainted with the loaded volume. Goals
(issue 6): ≤ 0.5 s to the first slice, ≤ 3 s to all results with the demo model.

A fourth process, ``edits`` (issue 18; see :mod:`bench._gui_edits`), opens a 512 × 512 × 40
phantom with a bleed and a thin one the automatic rules drop, and times each segmentation edit
from the mouse release (a real QTest event on the viewport) to the updated numbers in the
results panel. Goal: ≤ 50 ms on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_FIRST_SLICE_S, GOAL_RESULTS_S = 0.5, 3.0
sys.path.insert(0, str(ROOT))  # bench._gui_edits and ichmodel from this checkout


def _study(path: str | None) -> Path:
    if path:
        return Path(path)
    from ichmodel import resources

    sample = resources.sample_study_dir()
    if sample.is_dir() and any(sample.iterdir()):
        return sample
    folder = Path(tempfile.gettempdir()) / "ichviewer_bench_phantom512"
    if not (folder / ".done").exists():
        from ichmodel.io.write import write_dicom_series
        from ichmodel.phantom import PhantomConfig, make_phantom

        folder.mkdir(parents=True, exist_ok=True)
        config = PhantomConfig(size=512, slice_thickness_mm=5.0, site="deep", volume_ml=25.0)
        write_dicom_series(make_phantom(11, config).volume, folder)
        (folder / ".done").write_text("ok")
    return folder


def _one(mode: str, study: Path, device: str, repeats: int) -> dict:
    """Runs in the child process: one scenario, prints JSON."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("ICHVIEWER_LOG_DIR", tempfile.mkdtemp(prefix="ichviewer-bench-logs-"))
    t_process = time.perf_counter()
    from ichviewer.app import create_app
    from ichviewer.logging_setup import setup_logging
    from ichviewer.main_window import MainWindow
    from ichviewer.settings import Settings

    setup_logging(to_stderr=False)
    app = create_app()
    settings = Settings(Path(tempfile.mkdtemp(prefix="ichviewer-bench-")) / "s.ini")
    settings.device = device
    window = MainWindow(settings)
    window.show()
    app.processEvents()
    window_s = time.perf_counter() - t_process
    torch_loaded_at_window = "torch" in sys.modules

    if mode == "preloaded":
        window.controller.preload_model()
        deadline = time.monotonic() + 300
        while (
            window.controller.models.loaded is None or window.controller.runner.busy
        ) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)

    runs = []
    for _ in range(repeats if mode == "warm" else 1):
        marks: dict[str, float] = {}
        t0 = time.perf_counter()

        def on_volume(_volume, marks=marks, t0=t0):
            window.slice_view.graphics.viewport().repaint()
            marks["first_slice_painted"] = time.perf_counter() - t0

        def on_ready(_token, marks=marks, t0=t0):
            marks["results"] = time.perf_counter() - t0

        c1 = window.controller.sig_volume.connect(on_volume)
        c2 = window.controller.sig_ready.connect(on_ready)
        errors: list[str] = []

        def on_error(dialog, errors=errors):
            errors.append(f"{dialog.title}: {dialog.message}")

        c3 = window.sig_error_shown.connect(on_error)
        window.open_path(study)
        deadline = time.monotonic() + 300
        while "results" not in marks and not errors and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.002)
        window.controller.sig_volume.disconnect(c1)
        window.controller.sig_ready.disconnect(c2)
        window.sig_error_shown.disconnect(c3)
        s = window.controller.study
        runs.append(
            {
                **{k: round(v, 3) for k, v in marks.items()},
                "milestones_s": {k: round(v, 3) for k, v in s.milestones_s.items()},
                "measure_timings_s": getattr(s.measurement, "timings_s", None),
                "predict_timings_s": {
                    k: round(v, 3)
                    for k, v in (getattr(s.prediction, "timings_s", {}) or {}).items()
                },
                "errors": errors,
            }
        )
    # scrolling: every slice once, with the heatmap, the contour and the segments drawn
    view = window.slice_view
    view.set_slice(0)
    t = time.perf_counter()
    for index in range(view.n_slices):
        view.set_slice(index)
        view.graphics.viewport().repaint()
    slice_step_ms = 1000 * (time.perf_counter() - t) / max(1, view.n_slices)
    model = window.controller.models.loaded
    volume = window.controller.study.volume
    out = {
        "mode": mode,
        "window_shown_s": round(window_s, 3),
        "torch_imported_before_window": torch_loaded_at_window,
        "model": getattr(model, "name", None),
        "device": getattr(window.controller.study.prediction, "device", None),
        "volume_shape": list(volume.shape) if volume is not None else None,
        "runs": runs,
        "slice_step_ms": round(slice_step_ms, 2),
    }
    window.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("study", nargs="?")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--one", choices=("cold", "preloaded", "warm", "edits"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-edits", action="store_true", help="skip the edit latency")
    args = parser.parse_args(argv)
    if args.one == "edits":
        from bench._gui_edits import run_edits

        print(json.dumps(run_edits(args.repeats)))
        return 0
    study = _study(args.study)
    if args.one:
        print(json.dumps(_one(args.one, study, args.device, args.repeats)))
        return 0
    print(f"study: {study}")
    results = []
    for mode in ("cold", "preloaded", "warm"):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                str(study),
                "--device",
                args.device,
                "--repeats",
                str(args.repeats),
                "--one",
                mode,
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if done.returncode != 0:
            print(f"{mode}: failed\n{done.stderr[-3000:]}")
            return 1
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    first = results[0]
    print(f"model: {first['model']} on {first['device']}; volume (z,y,x) {first['volume_shape']}")
    print(
        f"window shown {first['window_shown_s']:.2f} s after start; torch imported before the "
        f"window: {first['torch_imported_before_window']}"
    )
    print(
        f"{'scenario':<11} {'first slice s':>13} {'measured s':>10} {'model s':>8} "
        f"{'all results s':>13}"
    )
    for r in results:
        for i, run in enumerate(r["runs"]):
            m = run["milestones_s"]
            name = r["mode"] + (f" #{i + 1}" if len(r["runs"]) > 1 else "")
            print(
                f"{name:<11} {run.get('first_slice_painted', float('nan')):>13.3f} "
                f"{m.get('measurement', float('nan')):>10.3f} "
                f"{m.get('prediction_volume', float('nan')):>8.3f} "
                f"{run.get('results', float('nan')):>13.3f}"
                + (f"  errors: {run['errors']}" if run["errors"] else "")
            )
    for r in results:
        run = r["runs"][-1]
        print(
            f"{r['mode']}: predict stages {run['predict_timings_s']}; "
            f"measure {run['measure_timings_s']}"
        )
    print(
        "slice step with all overlays (set + repaint): "
        + ", ".join(f"{r['mode']} {r['slice_step_ms']:.1f} ms" for r in results)
    )
    best = results[1]["runs"][-1]
    print(
        f"goals: first slice ≤ {GOAL_FIRST_SLICE_S} s → "
        f"{'met' if best.get('first_slice_painted', 99) <= GOAL_FIRST_SLICE_S else 'MISSED'}; "
        f"all results ≤ {GOAL_RESULTS_S} s (preloaded) → "
        f"{'met' if best.get('results', 99) <= GOAL_RESULTS_S else 'MISSED'}"
    )
    if not args.no_edits:
        from bench._gui_edits import print_edits

        done = subprocess.run([sys.executable, __file__, "--repeats", str(max(args.repeats, 5)),
                               "--one", "edits"], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        if done.returncode != 0:
            print(f"edits: failed\n{done.stderr[-3000:]}")
            return 1
        print_edits(json.loads(done.stdout.strip().splitlines()[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
