"""A disk cache of preprocessed model inputs, so training epochs never re-read DICOM.

Each case is stored as ``<key>.npy`` (float16, (1, z, y, x), values in [0, 1]) plus ``<key>.json``
(what it came from). The key hashes the study's files (relative names, sizes and modification
times; or their full contents with ``content_hash=True``) together with the preprocessing
config and the cache format, so an edited study or a changed config never reuses a stale entry.
Writes are atomic (temporary file + rename): a killed build leaves no half-written entry, and
building again resumes where it stopped.

Studies are loaded lazily through :func:`ichmodel.io.load.load_study` (SimpleITK/pydicom are
imported only when a study actually has to be read).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from ichmodel.errors import ICHError
from ichmodel.progress import Progress
from ichmodel.train.manifest import ManifestReport, ManifestRow, RowProblem

log = logging.getLogger(__name__)

#: 2: entries record the model input's voxel size (``model_spacing_mm``, ``model_voxel_mm3``).
CACHE_FORMAT = 2
#: A stored hematoma share of 1 (uint8 steps).
HEMATOMA_SCALE = 255.0


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-able dict of a (frozen dataclass) config."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return json.loads(json.dumps(dataclasses.asdict(config), default=str))
    if isinstance(config, dict):
        return json.loads(json.dumps(config, default=str))
    raise TypeError(f"cannot serialise config of type {type(config).__name__}")


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def study_fingerprint(path: str | Path, *, content_hash: bool = False) -> str:
    """SHA-256 over a study's files: relative names, sizes and mtimes (or contents)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for f in files:
        rel = f.relative_to(path).as_posix() if path.is_dir() else f.name
        digest.update(rel.encode() + b"\0")
        if content_hash:
            with f.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            st = f.stat()
            digest.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        digest.update(b"\0")
    return digest.hexdigest()


class CaseCache:
    """Preprocessed inputs on disk, keyed by source fingerprint + preprocessing config."""

    def __init__(self, root: str | Path, preprocess_config: Any) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.preprocess_config = preprocess_config
        self._config_dict = config_to_dict(preprocess_config)

    def key(self, source_fingerprint: str) -> str:
        """The entry key of a source (study fingerprint, or a phantom's description hash)."""
        return _sha256_json(
            {"format": CACHE_FORMAT, "source": source_fingerprint, "preprocess": self._config_dict}
        )[:40]

    def array_path(self, key: str) -> Path:
        return self.root / f"{key}.npy"

    def has(self, key: str) -> bool:
        return self.array_path(key).is_file() and (self.root / f"{key}.json").is_file()

    def get(self, key: str, *, mmap: bool = True) -> np.ndarray:
        """The cached float16 array (1, z, y, x); memory-mapped by default (read-only)."""
        return np.load(self.array_path(key), mmap_mode="r" if mmap else None)

    def hematoma_path(self, key: str) -> Path:
        return self.root / f"{key}.hematoma.npy"

    def hematoma(self, key: str) -> np.ndarray | None:
        """The case's hematoma share per input voxel, float32 (1, z, y, x) in [0, 1], or None
        when the entry holds no mask (studies from a manifest)."""
        path = self.hematoma_path(key)
        if not path.is_file():
            return None
        return np.load(path).astype(np.float32) / HEMATOMA_SCALE

    def meta(self, key: str) -> dict[str, Any]:
        return json.loads((self.root / f"{key}.json").read_text())

    def voxel_mm3(self, key: str) -> float | None:
        """Physical volume of one model-input voxel of the entry (None if not recorded)."""
        value = self.meta(key).get("model_voxel_mm3")
        return None if value is None else float(value)

    def put(
        self,
        key: str,
        array: np.ndarray,
        meta: dict[str, Any],
        *,
        hematoma: np.ndarray | None = None,
    ) -> None:
        """Store one case atomically (arrays first, then its JSON: the JSON marks completeness).

        ``hematoma``: optionally the share of each input voxel inside the hematoma, same shape
        as ``array`` (stored as uint8 in 1/255 steps).
        """
        arr = np.asarray(array)
        if arr.ndim != 4 or arr.shape[0] != 1:
            raise ValueError(f"expected a (1, z, y, x) model input, got shape {arr.shape}")
        if hematoma is not None:
            share = np.asarray(hematoma, dtype=np.float32)
            if share.shape != arr.shape:
                raise ValueError(f"hematoma map {share.shape} does not match input {arr.shape}")
            packed = np.round(np.clip(share, 0.0, 1.0) * HEMATOMA_SCALE).astype(np.uint8)
            _atomic_write(self.hematoma_path(key), lambda fh: np.save(fh, packed))
        else:
            self.hematoma_path(key).unlink(missing_ok=True)
        _atomic_write(self.array_path(key), lambda fh: np.save(fh, arr.astype(np.float16)))
        full_meta = {"format": CACHE_FORMAT, "shape": list(arr.shape),
                     "hematoma_map": hematoma is not None, **meta}
        full_meta["preprocess"] = self._config_dict
        text = json.dumps(full_meta, indent=1, default=str).encode()
        _atomic_write(self.root / f"{key}.json", lambda fh: fh.write(text))


def _atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _default_loader(path: Path) -> Any:
    from ichmodel.io.load import load_study  # lazy: pulls SimpleITK/pydicom

    return load_study(path)


def _default_preprocess(volume: Any, config: Any) -> Any:
    from ichmodel.preprocess import preprocess

    return preprocess(volume, config)


def input_geometry_meta(model_input: Any) -> dict[str, Any]:
    """What a cache entry records of a :class:`ichmodel.preprocess.ModelInput`'s geometry."""
    return {
        "model_spacing_mm": [float(s) for s in model_input.model_spacing_mm],
        "model_voxel_mm3": float(model_input.model_voxel_mm3),
    }


def build_cache(
    report: ManifestReport,
    cache: CaseCache,
    *,
    content_hash: bool = False,
    loader: Callable[[Path], Any] | None = None,
    preprocessor: Callable[[Any, Any], Any] | None = None,
) -> Generator[Progress, None, ManifestReport]:
    """Load + preprocess every row not cached yet; return the report with load problems added.

    This is also the manifest's "does every study load" check: a study that fails to load
    becomes a :class:`RowProblem` on its row (all rows are tried before anything is reported).
    Cancel by closing the generator; entries already written stay valid (resume = run again).
    ``preprocessor`` returns a ModelInput (its voxel size is recorded) or a bare array.
    """
    loader = loader or _default_loader
    preprocessor = preprocessor or _default_preprocess
    rows: list[ManifestRow] = []
    problems: list[RowProblem] = []
    n = len(report.rows)
    n_built = 0
    for i, row in enumerate(report.rows):
        key = cache.key(study_fingerprint(row.study, content_hash=content_hash))
        if cache.has(key):
            rows.append(dataclasses.replace(row, cache_key=key))
            yield Progress("cache", i + 1, n, f"row {row.row}: cached")
            continue
        yield Progress("cache", i, n, f"row {row.row}: loading {row.study_text}")
        try:
            volume = loader(row.study)
            prepared = preprocessor(volume, cache.preprocess_config)
        except ICHError as exc:
            problems.append(RowProblem(row.row, "study", f"does not load: {exc}"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad study must not hide the others
            log.exception("row %d: unexpected failure loading %s", row.row, row.study)
            problems.append(
                RowProblem(row.row, "study", f"does not load ({type(exc).__name__}: {exc})")
            )
            continue
        meta: dict[str, Any] = {"study": str(row.study), "row": row.row}
        if hasattr(prepared, "model_spacing_mm"):
            meta.update(input_geometry_meta(prepared))
        cache.put(key, np.asarray(getattr(prepared, "array", prepared), np.float32), meta)
        n_built += 1
        rows.append(dataclasses.replace(row, cache_key=key))
        yield Progress("cache", i + 1, n, f"row {row.row}: preprocessed")
    log.info("cache: %d new, %d reused, %d failed", n_built, len(rows) - n_built, len(problems))
    return report.with_load_results(rows, problems)
