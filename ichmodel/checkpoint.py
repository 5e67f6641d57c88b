"""Checkpoints: safetensors weights + a JSON document describing them. No pickle, ever.

The document (schema :data:`SCHEMA_VERSION`; schema 1 files still load) is stored in the
safetensors metadata under the key ``"ichmodel"`` (authoritative) and, for people and the
model registry, written beside the file as ``<stem>.json``. It holds the net config,
preprocessing config, label transform, model card, training provenance, metrics, the weights'
dtype and two SHA-256 digests:

* ``weights_sha256`` over every tensor (name, dtype, shape and bytes, in name order) - the
  model's identity, shown in reports as ``LoadedModel.sha256``;
* ``config_sha256`` over the configs, the card's provenance (schema 2) and ``weights_sha256``,
  so an edited header is noticed.

Schema 2 (this version) records the card's :class:`~ichmodel.model_card.Provenance` inside the
digest and no longer stores Grad-CAM flip axes as part of the model (they became the card's
``recommended_cam_flip_axes``, an explicit argument of prediction). A schema 1 file loads with
provenance ``unrecorded`` and its flip axes moved into the card.

:func:`load_checkpoint` verifies both, that the weights fit the recorded architecture, and that
a sidecar (when present) belongs to the file; any problem raises a
:class:`~ichmodel.errors.CheckpointError` subclass saying what to do.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ichmodel import __version__, notices
from ichmodel.errors import CheckpointError, CheckpointIntegrityError, PickleCheckpointError
from ichmodel.flip_axes import check_flip_axes
from ichmodel.labels import LabelTransform
from ichmodel.model_card import UNTRAINED_BANNER, ModelCard, Provenance
from ichmodel.nets.resnet3d import ICHNet, NetConfig
from ichmodel.notices import Notice, Source, texts
from ichmodel.ood_gate import FeatureGate
from ichmodel.preprocess import PreprocessConfig

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
METADATA_KEY = "ichmodel"
FORMAT_NAME = "ichmodel-checkpoint"
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar"})
WEIGHT_DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}

_CONVERT_HINT = (
    "ichmodel never unpickles files (a pickle can run arbitrary code). Convert it once, offline, "
    "on a machine you trust: `state = torch.load(FILE, map_location='cpu', weights_only=True)`, "
    "`net = ichmodel.nets.ICHNet(NetConfig(...)); net.load_state_dict(state)`, then "
    "`ichmodel.checkpoint.save_checkpoint('model.safetensors', net, net_config=..., "
    "preprocess_config=..., card=...)`, and load the .safetensors file instead"
)


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified model, ready for :func:`ichmodel.predict.predict` (``net`` is in eval mode)."""

    name: str
    sha256: str
    net: ICHNet
    net_config: NetConfig
    preprocess_config: PreprocessConfig
    card: ModelCard
    metrics: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    label_transform: LabelTransform = field(default_factory=LabelTransform)
    training: Mapping[str, Any] = field(default_factory=dict)
    created_utc: str = ""
    weights_dtype: str = "float32"
    #: Problems met while choosing this model (e.g. the active model failed to load).
    load_warnings: tuple[str, ...] = ()
    #: Whether a scan looks like its training data (None: no gate was fitted).
    gate: FeatureGate | None = None
    #: Temperature of the outcome head's softmax, fitted on held-out cases (1: none fitted).
    outcome_temperature: float = 1.0

    @property
    def provenance(self) -> Provenance:
        """Where its training data came from (recorded in the card, covered by the digest)."""
        return self.card.provenance

    @property
    def is_untrained(self) -> bool:
        return self.card.provenance is Provenance.UNTRAINED

    @property
    def notices(self) -> tuple[Notice, ...]:
        """What every prediction made with this model must say (banner first)."""
        out = []
        if self.is_untrained:
            out.append(notices.critical(
                "model.untrained",
                f"{UNTRAINED_BANNER}: no trained checkpoint was found, so a randomly initialised "
                "network produced these numbers. Install or train a model (ichmodel train / "
                "ichmodel models use NAME) before reading anything into them.",
                Source.MODEL,
            ))
        elif self.card.warning_banner:
            out.append(notices.warning(
                f"model.provenance_{self.provenance.value}",
                f"model '{self.name}': {self.card.warning_banner}",
                Source.MODEL,
            ))
        out += [notices.warning("model.fallback", text, Source.MODEL)
                for text in self.load_warnings]
        return tuple(out)

    @property
    def warnings(self) -> tuple[str, ...]:
        return texts(self.notices)


def weights_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        header = json.dumps([name, str(t.dtype).removeprefix("torch."), list(t.shape)])
        digest.update(header.encode() + b"\0")
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _config_sha256(doc: Mapping[str, Any]) -> str:
    keys = ("net_config", "preprocess_config", "label_transform", "weights_dtype", "weights_sha256")
    hashed = {k: doc.get(k) for k in keys}
    if doc.get("schema_version") == 1:
        if "cam_flip_axes" in doc:  # schema 1 hashed them only where set
            hashed["cam_flip_axes"] = doc["cam_flip_axes"]
    else:
        card = doc.get("card")
        hashed["provenance"] = card.get("provenance") if isinstance(card, Mapping) else None
        hashed["ood_gate"] = doc.get("ood_gate")
        hashed["outcome_temperature"] = doc.get("outcome_temperature")
    canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def sidecar_path(path: str | Path) -> Path:
    """The JSON document beside a checkpoint (``model.safetensors`` -> ``model.json``)."""
    return Path(path).with_suffix(".json")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path,
    net: nn.Module,
    *,
    net_config: NetConfig,
    preprocess_config: PreprocessConfig,
    card: ModelCard | str | Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    label_transform: LabelTransform | None = None,
    write_sidecar: bool = True,
    gate: FeatureGate | None = None,
    outcome_temperature: float = 1.0,
) -> Path:
    """Write ``net``'s weights and their description atomically; returns the path.

    ``dtype`` 'float16' halves the file (the demo model); floating tensors are cast, integer
    buffers kept. ``training`` (provenance: data, seeds, epochs, ...) and ``metrics`` must be
    JSON-serialisable. Loading gives the net back bit-exactly (in fp32 after an fp16 save).
    The card's ``provenance`` (site, synthetic, untrained), the out-of-distribution ``gate``
    and the outcome head's ``outcome_temperature`` are part of the config digest.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise CheckpointError(f"checkpoint file names must end in .safetensors, got {path.name}")
    if dtype not in WEIGHT_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(WEIGHT_DTYPES)}, got {dtype!r}")
    card = ModelCard.coerce(card, default_name=path.stem)
    net = getattr(net, "_orig_mod", net)  # a torch.compile'd module saves like its original
    net = getattr(net, "module", net)  # and so does a DataParallel/DDP wrapper
    tensors = {}
    for name, t in net.state_dict().items():
        t = t.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(WEIGHT_DTYPES[dtype])
        tensors[name] = t.contiguous().clone()
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": card.name,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ichmodel_version": __version__,
        "torch_version": torch.__version__,
        "net_config": net_config.to_dict(),
        "preprocess_config": preprocess_config.to_dict(),
        "label_transform": (label_transform or LabelTransform()).to_dict(),
        "weights_dtype": dtype,
        "weights_sha256": weights_sha256(tensors),
        "ood_gate": gate.to_doc() if gate is not None else None,
        "outcome_temperature": _check_temperature(outcome_temperature),
        "card": card.to_dict(),
        "training": dict(training or {}),
        "metrics": dict(metrics or {}),
    }
    doc["config_sha256"] = _config_sha256(doc)
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"training/metrics must be finite JSON values: {exc}") from exc
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={METADATA_KEY: text}))
    if write_sidecar:
        _atomic_write(
            sidecar_path(path),
            lambda tmp: Path(tmp).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8"),
        )
    log.info("saved checkpoint %s (%s, sha256 %s)", path, dtype, doc["weights_sha256"][:12])
    return path


def _refuse_pickle(path: Path) -> None:
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise PickleCheckpointError(f"{path.name} is a pickle-based checkpoint. {_CONVERT_HINT}.")
    with open(path, "rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header. The length's
    # low byte can be 0x80 (pickle's PROTO opcode), so recognise safetensors first.
    if head[8:9] == b"{":
        return
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        raise PickleCheckpointError(
            f"{path.name} holds a torch/pickle archive despite its name. {_CONVERT_HINT}."
        )


def read_document(path: str | Path) -> dict[str, Any]:
    """The JSON document of a checkpoint, without loading or verifying the weights."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path")
    _refuse_pickle(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path.name} is not a readable safetensors file ({exc}); it may be truncated - "
            "copy it again or re-export it with save_checkpoint"
        ) from exc
    if METADATA_KEY not in metadata:
        raise CheckpointError(
            f"{path.name} has no '{METADATA_KEY}' metadata, so its architecture and "
            "preprocessing are unknown; save it with ichmodel.checkpoint.save_checkpoint"
        )
    try:
        doc = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path.name}: its metadata is not valid JSON ({exc})") from exc
    if doc.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path.name} is not an {FORMAT_NAME} file")
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise CheckpointError(
            f"{path.name} uses checkpoint schema {version!r}; this ichmodel reads schema "
            f"1..{SCHEMA_VERSION} - update ICH Viewer to use this model"
        )
    return doc


def load_checkpoint(path: str | Path, *, map_location: str = "cpu") -> LoadedModel:
    """Load and verify a checkpoint written by :func:`save_checkpoint`."""
    from safetensors.torch import load_file

    path = Path(path)
    doc = read_document(path)
    name = path.name
    try:
        net_config = NetConfig.from_dict(doc["net_config"])
        preprocess_config = PreprocessConfig.from_dict(doc["preprocess_config"])
        label_transform = LabelTransform.from_dict(doc["label_transform"])
        card = _card_from_document(doc)
        gate = FeatureGate.from_doc(doc["ood_gate"]) if doc.get("ood_gate") else None
        temperature = _check_temperature(doc.get("outcome_temperature") or 1.0)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}: its recorded configuration is invalid ({exc})") from exc
    tensors = load_file(str(path), device="cpu")
    actual = weights_sha256(tensors)
    if actual != doc.get("weights_sha256"):
        raise CheckpointIntegrityError(
            f"{name}: the weights' SHA-256 is {actual[:16]}... but "
            f"{str(doc.get('weights_sha256'))[:16]}... was recorded when it was saved; "
            "the file is corrupted or was modified - "
            "restore it from its source"
        )
    if _config_sha256(doc) != doc.get("config_sha256"):
        raise CheckpointIntegrityError(
            f"{name}: its recorded configuration was edited after saving (config SHA-256 "
            "mismatch); restore the original file"
        )
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        try:
            side = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CheckpointError(
                f"{sidecar.name} beside {name} is not valid JSON ({exc}); delete or restore it"
            ) from exc
        if side.get("weights_sha256") != actual:
            raise CheckpointError(
                f"{sidecar.name} describes other weights than {name}; delete or restore it"
            )
    net = ICHNet(net_config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{name}: the weights do not fit the recorded architecture {net_config} "
            f"({first[1].strip() if len(first) > 1 else first[0]}); the file is inconsistent"
        ) from exc
    net.to(map_location).eval()
    log.info("loaded checkpoint %s (sha256 %s)", path, actual[:12])
    return LoadedModel(
        name=card.name,
        sha256=actual,
        net=net,
        net_config=net_config,
        preprocess_config=preprocess_config,
        card=card,
        metrics=dict(doc.get("metrics") or {}),
        path=path,
        label_transform=label_transform,
        training=dict(doc.get("training") or {}),
        created_utc=str(doc.get("created_utc", "")),
        weights_dtype=str(doc.get("weights_dtype", "float32")),
        gate=gate,
        outcome_temperature=temperature,
    )


def _check_temperature(value: float) -> float:
    value = float(value)
    if not (value > 0 and value < 1e3):
        raise ValueError(f"the outcome temperature must be a positive number, got {value}")
    return value


def _card_from_document(doc: Mapping[str, Any]) -> ModelCard:
    """The card; a schema 1 file's flip axes (then a field of the model) join its card as a
    recommendation, and its provenance is ``unrecorded`` unless its card says otherwise."""
    card = ModelCard.from_dict(doc["card"])
    legacy_flips = check_flip_axes(doc.get("cam_flip_axes") or ())
    if legacy_flips and not card.recommended_cam_flip_axes:
        card = dataclasses.replace(card, recommended_cam_flip_axes=legacy_flips)
    return card
