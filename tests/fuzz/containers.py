"""Corpus families of containers and names: zips, DICOMDIRs, odd file names (see corpus.py)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pydicom

from tests.fuzz import raw
from tests.fuzz.corpus import N_SLICES, Case, series
from tests.model import dicom_factory as f

#: A file outside every input: a reader following ``..`` or absolute references would open it.
CANARY_NAME = "CANARY_OUTSIDE.dcm"


def _zipped(root: Path, **kw) -> Path:
    series(root / "study")
    return raw.zip_folder(root / "study", root / "study.zip", **kw)


def _zip_cases() -> list[Case]:
    c = []
    add = lambda name, make, expect, **kw: c.append(Case("zip", name, make, expect, **kw))  # noqa: E731
    add("good_zip", lambda r: [str(_zipped(r))], "ok", n_slices=N_SLICES)
    add("stored_zip", lambda r: [str(_zipped(r, method=zipfile.ZIP_STORED))], "ok")
    add("bomb_1gib", lambda r: [str(raw.zip_bomb(r / "b.zip", 1 << 30))], "error", heavy=True)
    add("bomb_300mib", lambda r: [str(raw.zip_bomb(r / "b.zip", 300 << 20))], "error", heavy=True)
    add("bomb_ratio_8mib", lambda r: [str(raw.zip_bomb(r / "b.zip", 8 << 20))], "error")

    def patched(**kw):
        def make(root: Path) -> list[str]:
            z = _zipped(root)
            raw.patch_zip_members(z, **kw)
            return [str(z)]

        return make

    add("encrypted_all", patched(flag_bits=1), "error")
    add("encrypted_first", patched(flag_bits=1, only_first=True), "warn")
    add("deflate64_all", patched(method=9), "error")
    add("aes_all", patched(method=99), "error")
    add("truncated_zip", lambda r: [str(f.truncate(_zipped(r), 0.5))], "any")
    add("not_a_zip", lambda r: (r.joinpath("x.zip").write_bytes(b"PK\x03\x04junk"),
                                [str(r / "x.zip")])[1], "error")  # fmt: skip
    add("empty_zip", lambda r: (zipfile.ZipFile(r / "e.zip", "w").close(), [str(r / "e.zip")])[1],
        "error")

    def evil_names(root: Path) -> list[str]:
        paths = series(root / "study")
        with zipfile.ZipFile(root / "evil.zip", "w") as archive:
            for k, p in enumerate(paths):
                name = ("../" * 4 + f"escape{k}.dcm", f"/tmp/abs{k}.dcm", f"ok/{k}.dcm")[k % 3]
                archive.write(p, name)
        return [str(root / "evil.zip")]

    add("dotdot_and_absolute_names", evil_names, "ok")

    def many(root: Path) -> list[str]:
        with zipfile.ZipFile(root / "many.zip", "w") as archive:
            for k in range(20_500):
                archive.writestr(f"f{k}", b"")
        return [str(root / "many.zip")]

    add("entries_20500", many, "error", heavy=True)

    def bad_crc(root: Path) -> list[str]:
        z = _zipped(root, method=zipfile.ZIP_STORED)
        data = bytearray(z.read_bytes())
        data[2000] ^= 0xFF  # inside the first member's stored bytes
        z.write_bytes(bytes(data))
        return [str(z)]

    add("bad_crc_member", bad_crc, "warn")

    def nested(root: Path) -> list[str]:
        inner = _zipped(root)
        with zipfile.ZipFile(root / "outer.zip", "w") as archive:
            archive.write(inner, "inner.zip")
        return [str(root / "outer.zip")]

    add("zip_in_zip", nested, "error")
    return c


def _dicomdir(root: Path, file_id=None, *, drop: slice | None = None) -> list[str]:
    paths = series(root / "src")
    dicomdir, images = f.make_dicomdir(root / "disc", paths)
    (root / CANARY_NAME).write_bytes(paths[0].read_bytes())
    if drop is not None:
        for p in images[drop]:
            p.unlink()
    if file_id is not None:
        ds = pydicom.dcmread(dicomdir)
        for record in ds.DirectoryRecordSequence:
            if "ReferencedFileID" in record:
                record.ReferencedFileID = file_id
        ds.save_as(dicomdir)
    return [str(dicomdir)]


def _dicomdir_cases() -> list[Case]:
    c = []
    add = lambda name, make, expect, **kw: c.append(Case("dicomdir", name, make, expect, **kw))  # noqa: E731
    add("good_dicomdir", lambda r: _dicomdir(r), "ok", n_slices=N_SLICES)
    add("dotdot_ids", lambda r: _dicomdir(r, ["..", CANARY_NAME]), "error")
    add("absolute_ids", lambda r: _dicomdir(r, "/etc/passwd"), "error")
    add("id_5000_chars", lambda r: _dicomdir(r, ["A" * 5000]), "error")
    add("id_with_nul", lambda r: _dicomdir(r, ["IM\0X"]), "error")
    add("all_files_missing", lambda r: _dicomdir(r, drop=slice(None)), "error")
    add("some_files_missing", lambda r: _dicomdir(r, drop=slice(0, 3)), "warn")

    def garbage(root: Path) -> list[str]:
        f.random_bytes_file(root / "d" / "DICOMDIR", 5000)
        return [str(root / "d" / "DICOMDIR")]

    add("garbage_dicomdir", garbage, "error")
    return c


def _rename(paths: list[Path], name_of) -> None:
    for k, p in enumerate(paths):
        p.rename(p.parent / name_of(k))


def _name_cases() -> list[Case]:
    c = []

    def named(label: str, name_of) -> None:
        def make(root: Path) -> list[str]:
            paths = series(root / "study")
            _rename(paths, name_of)
            return [str(root / "study")]

        c.append(Case("names", label, make, "ok", plain=True, n_slices=N_SLICES))

    named("non_utf8", lambda k: os.fsdecode(b"IM\xff\xfe%d.dcm" % k))
    named("newline", lambda k: f"IM{k}\nerror: fake line.dcm")
    named("unicode", lambda k: f"Bild_ä_{k}_画像.dcm")
    named("long_250", lambda k: f"{k:03d}" + "x" * 243 + ".dcm")
    named("spaces_and_quotes", lambda k: f"IM '{k}' \"q\".dcm")

    def bad_named_truncated(root: Path) -> list[str]:
        paths = series(root / "study")
        f.truncate(paths[3], 0.3)
        paths[3].rename(paths[3].parent / "trunc\n\x1b[31merror: colour.dcm")
        return [str(root / "study")]

    c.append(Case("names", "newline_in_skipped_name", bad_named_truncated, "warn", plain=True))
    c.append(Case("names", "study_folder_named_like_patient", lambda r: (
        series(r / "Plantedname_Fuzzy_PLANTED4711"), [str(r / "Plantedname_Fuzzy_PLANTED4711")])[1],
        "ok"))  # fmt: skip
    return c


import os  # noqa: E402 - used by the name cases above


def container_cases() -> list[Case]:
    return _zip_cases() + _dicomdir_cases() + _name_cases()
