"""Benchmark the model at full size, batch 1 (1x1x32x224x224), against a reference in the same run.

    .venv/bin/python bench/model.py [--json] [--reps N] [--width W] [--skip-textbook-cam]

Measures, on the default (paper) ResNet34 at base width 64 unless ``--width`` says otherwise:

* CPU: the plain fp32 eager forward (the reference) and our predictor's forward
  (BatchNorm folded, channels_last_3d, bf16 autocast where the CPU has bf16), their output
  agreement against the documented tolerance, the Grad-CAM extra cost at layer4 (gradient through
  the heads only) and layer3, and for comparison the textbook Grad-CAM's extra cost over the
  reference forward (a forward with a graph + ``backward()`` through the whole encoder);
* CUDA when present: fp32 eager (TF32 off), TF32 eager, bf16+channels_last eager, and ours;
* parameters and GFLOP per forward (torch's FLOP counter on the meta device);
* the demo topology (width 16) through our predictor, for orientation.

With ``--json`` the last line is a JSON object with ``cpu_speedup_vs_fp32_eager`` (goal >= 2)
and, with a GPU, ``gpu_ms_batch1`` and ``gpu_ratio_vs_best_reference`` (goal <= 1.05).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from ichmodel.checkpoint import LoadedModel  # noqa: E402
from ichmodel.device import PROBABILITY_ATOL, SIZE_MM_RTOL, configure_threads  # noqa: E402
from ichmodel.gradcam import capture_activation  # noqa: E402
from ichmodel.model_card import ModelCard  # noqa: E402
from ichmodel.nets import ICHNet, NetConfig, build_net, count_parameters  # noqa: E402
from ichmodel.predict import Predictor  # noqa: E402
from ichmodel.preprocess import PreprocessConfig  # noqa: E402

SHAPE = (1, 1, 32, 224, 224)


def _time(fn, reps: int, sync=None) -> float:
    """Best-of-``reps`` seconds after one warm-up call (the minimum is the least disturbed by
    other processes on a shared machine)."""
    return _interleaved([fn], reps, sync)[0]


def _interleaved(fns, reps: int, sync=None) -> list[float]:
    """Best-of-``reps`` seconds for each function, calling them in turn (ABAB...) so a change in
    machine load hits all of them alike."""
    for fn in fns:
        fn()
    if sync:
        sync()
    best = [float("inf")] * len(fns)
    for _ in range(reps):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            if sync:
                sync()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def _model(config: NetConfig) -> LoadedModel:
    torch.manual_seed(0)
    net = ICHNet(config).eval()
    for m in net.modules():  # realistic BN statistics, so folding is really exercised
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.05)
            m.running_var.uniform_(0.5, 1.5)
    return LoadedModel(
        name="bench",
        sha256="0" * 64,
        net=net,
        net_config=config,
        preprocess_config=PreprocessConfig(),
        card=ModelCard(name="bench"),
    )


def _gflop(config: NetConfig) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    net = build_net(config, device="meta")
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(SHAPE, device="meta"))
    return counter.get_total_flops() / 1e9


def _textbook_grad_cam(net: ICHNet, x: torch.Tensor) -> torch.Tensor:
    """Grad-CAM as commonly written: a forward with a graph and ``score.backward()``, which
    back-propagates through the whole encoder (all parameter gradients). The reference cost."""
    with capture_activation(net, "layer4") as cap:
        out = net(x)
        cap.activation.retain_grad()
        out.size_mm.sum().backward()
    act = cap.activation
    cam = torch.relu((act.grad.mean(dim=(2, 3, 4), keepdim=True) * act).sum(1)).detach()
    net.zero_grad(set_to_none=True)
    return cam


def bench_cpu(config: NetConfig, reps: int, textbook_cam: bool) -> dict:
    model = _model(config)
    x = torch.rand(SHAPE, generator=torch.Generator().manual_seed(1))
    net = model.net

    def reference():
        with torch.inference_mode():
            return net(x)

    predictor = Predictor(model, "cpu")
    timed = [reference, lambda: predictor.forward(x)]
    if textbook_cam:
        timed.append(lambda: _textbook_grad_cam(net, x))
    times = _interleaved(timed, reps)
    out = {"cpu_fp32_eager_s": times[0], "cpu_plan": predictor.plan.description}
    out["cpu_ours_s"] = times[1]
    if textbook_cam:
        out["cpu_gradcam_textbook_fp32_extra_s"] = times[2] - times[0]
    ref = reference()
    ours, _ = predictor.forward(x)
    size_rel = abs(float(ours.size_mm[0]) - float(ref.size_mm[0])) / max(
        abs(float(ref.size_mm[0])), 1e-6
    )
    prob_abs = abs(
        float(torch.softmax(ours.logits[0], 0)[1]) - float(torch.softmax(ref.logits[0], 0)[1])
    )
    out.update(
        cpu_speedup_vs_fp32_eager=out["cpu_fp32_eager_s"] / out["cpu_ours_s"],
        ours_vs_fp32_size_mm_rel_diff=size_rel,
        ours_vs_fp32_probability_abs_diff=prob_abs,
        within_documented_tolerance=size_rel <= SIZE_MM_RTOL and prob_abs <= PROBABILITY_ATOL,
    )
    for layer in ("layer4", "layer3"):
        _, act = predictor.forward(x, capture=layer)
        out[f"cpu_gradcam_{layer}_extra_s"] = _time(
            lambda act=act, layer=layer: predictor.explain(act, layer, "volume"),
            reps if layer == "layer3" else max(reps, 10),
        )
    return out


def bench_cuda(config: NetConfig, reps: int) -> dict:
    model = _model(config)
    dev = torch.device("cuda")
    x = torch.rand(SHAPE, device=dev)
    net = model.net.to(dev)
    sync = torch.cuda.synchronize
    out: dict = {"gpu_name": torch.cuda.get_device_name(0)}

    def eager(n, inp, autocast=False):
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=autocast):
            return n(inp)

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    refs = {"gpu_fp32_eager_ms": _time(lambda: eager(net, x), reps, sync) * 1e3}
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    refs["gpu_tf32_eager_ms"] = _time(lambda: eager(net, x), reps, sync) * 1e3
    net_cl = net.to(memory_format=torch.channels_last_3d)
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    refs["gpu_bf16_channels_last_eager_ms"] = (
        _time(lambda: eager(net_cl, x_cl, True), reps, sync) * 1e3
    )
    predictor = Predictor(model, "cuda")
    out.update(refs)
    out["gpu_plan"] = predictor.plan.description
    out["gpu_ms_batch1"] = _time(lambda: predictor.forward(x), reps, sync) * 1e3
    out["gpu_ratio_vs_best_reference"] = out["gpu_ms_batch1"] / min(refs.values())
    _, act = predictor.forward(x, capture="layer4")
    out["gpu_gradcam_layer4_extra_ms"] = (
        _time(lambda: predictor.explain(act, "layer4", "volume"), reps, sync) * 1e3
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="last line: a JSON object")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions (best of)")
    parser.add_argument("--width", type=int, default=64, help="base width (default 64: paper)")
    parser.add_argument("--skip-textbook-cam", action="store_true", help="skip the slow reference")
    args = parser.parse_args(argv)

    threads = configure_threads()
    config = NetConfig(base_width=args.width)
    result: dict = {
        "input_shape": list(SHAPE),
        "base_width": args.width,
        "torch": torch.__version__,
        "cpu_threads": threads,
        "params_m": count_parameters(build_net(config, device="meta")) / 1e6,
        "gflop_per_forward": _gflop(config),
        "load_avg_1min_at_start": os.getloadavg()[0],
    }
    result.update(bench_cpu(config, args.reps, not args.skip_textbook_cam))
    if args.width != 16:
        demo = Predictor(_model(NetConfig(base_width=16)), "cpu")
        x = torch.rand(SHAPE)
        result["cpu_demo_width16_ours_s"] = _time(lambda: demo.forward(x), max(args.reps, 5))
    if torch.cuda.is_available():
        result.update(bench_cuda(config, max(args.reps, 20)))

    result["load_avg_1min_at_end"] = os.getloadavg()[0]
    for key, value in result.items():
        print(f"{key:40s} {value:.4g}" if isinstance(value, float) else f"{key:40s} {value}")
    if args.json:
        print(
            json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in result.items()})
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
