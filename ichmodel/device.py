"""Device selection and the per-device execution plan for inference.

* ``"auto"`` picks CUDA when available, else the CPU; ``"cpu"``/``"cuda"``/``"cuda:N"`` force one
  (asking for CUDA where there is none is an :class:`~ichmodel.errors.InputError`).
* CUDA: TF32 matmul/convolutions and cuDNN autotuning are switched on (process-wide, once);
  the encoder runs under bf16 autocast in ``channels_last_3d`` when the GPU supports bf16.
* CPU: ``channels_last_3d`` + bf16 autocast where the CPU has native bf16 (AVX512-BF16/AMX,
  checked through oneDNN), fp32 elsewhere. ``ICHMODEL_CPU_BF16=0`` forces fp32.
* Threads: torch's intra-op pool is capped at the CPUs this process may run on (containers often
  report the host's count, which oversubscribes the cores we really have).

Tolerance of the reduced-precision plans against fp32 (documented contract, tested at small size
and measured at full size by ``bench/model.py``): ``size_mm`` within 2 % relative (so the volume in
ml within about 6 %), poor-outcome probability within 0.03 absolute. The heads always run in fp32.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch

from ichmodel.errors import InputError

log = logging.getLogger(__name__)

#: Documented tolerance of reduced-precision inference against the fp32 reference.
SIZE_MM_RTOL = 0.02
PROBABILITY_ATOL = 0.03

_lock = threading.Lock()
_configured: set[str] = set()


@dataclass(frozen=True)
class DevicePlan:
    """How to run the network on one device."""

    device: torch.device
    autocast_dtype: torch.dtype | None
    channels_last: bool

    @property
    def precision(self) -> str:
        """'bf16' or 'fp32' (on CUDA fp32 means TF32 tensor cores)."""
        if self.autocast_dtype is torch.bfloat16:
            return "bf16"
        return "tf32" if self.device.type == "cuda" else "fp32"

    @property
    def description(self) -> str:
        layout = ", channels_last_3d" if self.channels_last else ""
        return f"{self.device} ({self.precision}{layout})"

    def autocast(self) -> AbstractContextManager:
        """The autocast context for the encoder (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last_3d if self.channels_last else torch.contiguous_format


def available_cpus() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(n_threads: int | None = None) -> int:
    """Cap torch's intra-op threads at the CPUs we may use (or set ``n_threads``); returns it."""
    wanted = n_threads or min(torch.get_num_threads(), available_cpus())
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
        log.info("torch intra-op threads set to %d", wanted)
    return wanted


def cpu_supports_bf16() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (and it is not disabled by env)."""
    if os.environ.get("ICHMODEL_CPU_BF16", "1").strip() in ("0", "false", "no"):
        return False
    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # pragma: no cover - older or exotic builds
        return False


def resolve_device(request: str | torch.device = "auto") -> torch.device:
    """A concrete torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    text = str(request).strip().lower()
    if text in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError as exc:
        raise InputError(f"unknown device {request!r}; use auto, cpu or cuda") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                "CUDA was requested but this torch build or machine has no usable GPU; "
                "use --device cpu (or auto)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(
                f"{device} does not exist: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    elif device.type != "cpu":
        raise InputError(f"unsupported device {request!r}; use auto, cpu or cuda")
    return device


def configure_backend(device: torch.device) -> None:
    """Process-wide switches for ``device``'s type, applied once (thread-safe)."""
    with _lock:
        if device.type in _configured:
            return
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
            log.info("CUDA: TF32 and cuDNN autotuning enabled")
        else:
            configure_threads()
        _configured.add(device.type)


def plan_for(
    request: str | torch.device = "auto", *, precision: str = "auto", training: bool = False
) -> DevicePlan:
    """The execution plan for a device request. ``precision``: 'auto', 'bf16' or 'fp32'.

    ``training=True`` never uses channels_last_3d on the CPU: with torch 2.13 on an AMD EPYC,
    bf16 autocast + channels_last_3d gave non-deterministic and sometimes NaN/1e37 gradients
    in the backward pass (forward results were stable), while bf16 in the default layout and
    fp32 in either layout were exact run to run. ``precision="auto"`` trains in fp32 on the CPU.
    """
    device = resolve_device(request)
    configure_backend(device)
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
    else:
        bf16_ok = cpu_supports_bf16()
    # "auto" trains in fp32 on the CPU: bf16 backward passes there gave non-finite or ~1e37
    # gradients now and then even in the default layout (every step of a tiny fine-tune, and
    # the first steps of `ichmodel train --width 4`, were skipped by the guard), so a CPU run
    # asks for bf16 explicitly or not at all. Inference keeps bf16 (its forward is stable).
    auto_bf16 = bf16_ok and not (training and device.type == "cpu")
    use_bf16 = precision == "bf16" or (precision == "auto" and auto_bf16)
    return DevicePlan(
        device=device,
        autocast_dtype=torch.bfloat16 if use_bf16 else None,
        channels_last=device.type == "cuda" or (use_bf16 and not training),
    )
