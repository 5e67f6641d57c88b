"""A seeded corpus of malformed and adversarial studies, built from small synthetic series.

``cases(seed)`` returns :class:`Case` objects; ``case.make(folder)`` writes the input under
``folder`` and returns the CLI arguments (paths) to load. Families follow issue 16: byte flips
and truncations, deleted tags, absurd values (the silent-corruption kind), odd series, special
files, zips, DICOMDIRs and file names. ``expect`` says what a correct reader does:

* ``error``  rc 3 with one ``error:`` line;
* ``ok``     rc 0; ``warn``: rc 0 with at least one warning;
* ``refuse_or_warn``  never a silent success (the dangerous kind);
* ``any``    rc 0 or 3 (random damage may or may not hit something that matters).

Every series carries a planted patient name and ID that must never show in any output or log.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from tests.fuzz import raw
from tests.model import dicom_factory as f

PLANTED_NAME = "Plantedname^Fuzzy"
PLANTED_ID = "PLANTED4711"
N_SLICES = 12


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    make: Callable[[Path], list[str]] = field(repr=False)
    expect: str = "any"
    #: takes seconds or hundreds of MB of (sparse) disk: bench only, not the CI subset
    heavy: bool = False
    #: run the CLI without --json too (file-name cases: the plain table must print them)
    plain: bool = False
    #: with rc 0: the number of slices the volume must have (None: not checked)
    n_slices: int | None = None


def series(folder: Path, n: int = N_SLICES, *, seed: int = 0, shape=(32, 32), **kw) -> list[Path]:
    """A small axial head series (slice order), planted name and ID in every header."""
    volume = f.make_volume(
        (n, *shape), seed=seed, patient_name=PLANTED_NAME, patient_id=PLANTED_ID,
        **kw.pop("meta", {}),
    )  # fmt: skip
    return f.write(folder, volume, seed=seed, **kw)


def _study(make_series: Callable[[list[Path]], object]) -> Callable[[Path], list[str]]:
    def make(root: Path) -> list[str]:
        paths = series(root / "study")
        make_series(paths)
        return [str(root / "study")]

    return make


def _retag_some(which: str, **tags) -> Callable[[Path], list[str]]:
    def change(paths: list[Path]) -> None:
        chosen = {"all": paths, "one": paths[:1], "middle": paths[5:6], "some": paths[2:5]}[which]
        f.retag(chosen, **tags)

    return _study(change)


def _retag_text(paths: list[Path], keyword: str, text: str) -> None:
    """Write ``text`` into ``keyword`` as a string (LO), bypassing pydicom's DS/IS checks, as a
    broken exporter would."""
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    for path in paths:
        ds = pydicom.dcmread(path)
        ds[tag_for_keyword(keyword)] = DataElement(tag_for_keyword(keyword), "LO", text)
        ds.save_as(path)


def _byte_cases(seed: int) -> list[Case]:
    out = []
    for k in range(60):
        def make(root: Path, k=k) -> list[str]:
            rng = np.random.default_rng([seed, 1, k])
            paths = series(root / "study", seed=k % 3)
            for p in rng.choice(paths, size=3, replace=False):
                raw.flip_bytes(Path(p), rng, int(rng.integers(1, 9)), "header")
            return [str(root / "study")]

        out.append(Case("bytes", f"header_flips_{k}", make))
    for k in range(30):
        def make(root: Path, k=k) -> list[str]:
            rng = np.random.default_rng([seed, 2, k])
            paths = series(root / "study")
            for p in paths:
                raw.flip_bytes(p, rng, int(rng.integers(1, 40)), "anywhere")
            return [str(root / "study")]

        out.append(Case("bytes", f"flips_everywhere_{k}", make))
    for fraction in (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99):
        out.append(Case("bytes", f"truncate_all_{fraction}", _study(
            lambda p, fr=fraction: [f.truncate(x, fr) for x in p]), "error"))
        out.append(Case("bytes", f"truncate_one_{fraction}", _study(
            lambda p, fr=fraction: f.truncate(p[4], fr)), "warn", n_slices=N_SLICES))
    for k in range(3):
        out.append(Case("bytes", f"random_file_beside_{k}", _study(
            lambda p, k=k: f.random_bytes_file(p[0].parent / f"junk{k}.dcm", 2000 + k, k)),
            "warn"))  # fmt: skip
    return out


_TAGS = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "RescaleIntercept",
         "RescaleSlope", "Rows", "Columns", "SeriesInstanceUID", "SOPClassUID", "Modality",
         "BitsAllocated", "PixelRepresentation", "PixelData", "SliceThickness",
         "StudyInstanceUID", "PatientID", "ImageType")  # fmt: skip
#: Deleting these from some slices must never pass silently (HU or geometry would be wrong).
_CRITICAL = {"ImagePositionPatient", "PixelSpacing", "RescaleIntercept", "ImageOrientationPatient"}


def _tag_cases() -> list[Case]:
    out = []
    for tag in _TAGS:
        for which in ("all", "one", "middle"):
            expect = "refuse_or_warn" if which != "all" and tag in _CRITICAL else "any"
            if which == "all" and tag in _CRITICAL | {"SeriesInstanceUID", "PixelData"}:
                expect = "error"
            out.append(Case("tags", f"delete_{tag}_{which}", _retag_some(which, **{tag: None}),
                            expect))  # fmt: skip
    return out


def _positions(z_mm: list[float]) -> Callable[[list[Path]], None]:
    def change(paths: list[Path]) -> None:
        for p, z in zip(paths, z_mm, strict=False):
            f.retag([p], ImagePositionPatient=[-5.0, -4.0, z])

    return change


def _iop_jitter(paths: list[Path]) -> None:
    # cosines around a rounding boundary (x.xxx5): rounding would split the series in two
    for k, p in enumerate(paths):
        eps = 2e-7 if k % 2 else -2e-7
        s = 0.0005 + eps
        f.retag([p], ImageOrientationPatient=[1, 0, 0, 0, float(np.sqrt(1 - s * s)), s])


def _mixed(tag: str) -> Callable[[list[Path]], None]:
    def change(paths: list[Path]) -> None:
        f.retag(paths[6:], **{tag: "1.2.826.0.1.3680043.8.498.99" if "UID" in tag else "OTHER9"})

    return change


def _raw_all(fn: Callable[[Path], None], which: slice = slice(None)) -> Callable[[Path], list[str]]:
    return _study(lambda paths: [fn(p) for p in paths[which]])


def _corruption_cases() -> list[Case]:
    rows = lambda v: (lambda p: (raw.set_us(p, 0x28, 0x10, v), raw.set_us(p, 0x28, 0x11, v)))  # noqa: E731
    c = []
    add = lambda name, make, expect="refuse_or_warn", **kw: c.append(  # noqa: E731
        Case("corruption", name, make, expect, **kw))
    add("rows_columns_65535_all", _raw_all(rows(65535)), "error")
    add("rows_columns_65535_one", _raw_all(rows(65535), slice(0, 1)), "warn")
    add("rows_4097_all", _raw_all(rows(4097)), "error")
    for value in ("1e30", "1e-7", "0", "NaN", "-1", "1e-3", "60"):
        add(f"pixel_spacing_{value}_all", _retag_some("all", PixelSpacing=[value, value]))
        add(f"pixel_spacing_{value}_one", _retag_some("one", PixelSpacing=[value, value]))
    z = [30.0 + 2.5 * k for k in range(N_SLICES)]
    add("one_slice_at_1e9_mm", _study(_positions(z[:-1] + [1e9])))
    add("one_slice_at_minus_1e9_mm", _study(_positions([-1e9] + z[1:])))
    add("slices_0.0015_mm_apart", _study(_positions([30 + 0.0015 * k for k in range(N_SLICES)])))
    add("two_slices_95_mm_apart", _study(lambda p: ([x.unlink() for x in p[2:]],
                                                    _positions([0.0, 95.0])(p))))  # fmt: skip
    add("slices_40_mm_apart", _study(_positions([40.0 * k for k in range(N_SLICES)])))
    for value in ("NaN", "abc", "inf"):
        add(f"rescale_intercept_{value}_some", _study(
            lambda p, v=value: _retag_text(p[2:5], "RescaleIntercept", v)))
    add("rescale_intercept_missing_some", _retag_some("some", RescaleIntercept=None))
    add("rescale_intercept_missing_all", _retag_some("all", RescaleIntercept=None), "error")
    add("rescale_slope_1e39_all", _retag_some("all", RescaleSlope="1e39"))
    add("rescale_slope_0_some", _retag_some("some", RescaleSlope="0"))
    add("two_patients_one_series", _study(_mixed("PatientID")), "error")
    add("two_studies_one_series", _study(_mixed("StudyInstanceUID")), "error")
    add("iop_jitter_2e-7", _study(_iop_jitter), "ok", n_slices=N_SLICES)
    add("nan_position_first_file", _retag_some("one", ImagePositionPatient=["NaN", "0", "0"]),
        "warn", n_slices=N_SLICES - 1)
    add("zero_spacing_first_file", _retag_some("one", PixelSpacing=["0", "0"]),
        "warn", n_slices=N_SLICES - 1)
    add("mr_first_file", _retag_some("one", Modality="MR"), "warn", n_slices=N_SLICES - 1)
    add("localizer_first_file", _retag_some("one", ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"]),
        "warn", n_slices=N_SLICES - 1)
    add("huge_description_one", _raw_all(
        lambda p: raw.declare_huge_value(p, 0x0008, 0x103E, 2_000_000_000), slice(0, 1)),
        "warn", heavy=True)
    add("huge_description_all", _raw_all(
        lambda p: raw.declare_huge_value(p, 0x0008, 0x103E, 2_000_000_000)), "error", heavy=True)
    add("description_past_eof_all", _raw_all(
        lambda p: raw.declare_huge_value(p, 0x0008, 0x103E, 100 << 20, sparse=False)), "error")
    for mb, heavy in ((4, False), (48, True)):
        element = b"\x09\x00\x10\x10OB\0\0" + (mb << 20).to_bytes(4, "little") + bytes(mb << 20)
        add(f"private_{mb}mb_elements", _study(lambda p, e=element: [
            raw.insert_before_pixels(x, e) for x in p[:2]]), "ok", heavy=heavy)  # fmt: skip
    for depth, which, expect in ((20, slice(0, 1), "ok"), (400, slice(0, 1), "warn"),
                                 (400, slice(None), "error"), (100_000, slice(None), "error")):
        add(f"nested_sequences_{depth}_{'one' if which.stop else 'all'}", _raw_all(
            lambda p, d=depth: raw.insert_before_pixels(p, raw.nested_sequence(d)), which),
            expect)  # fmt: skip
    add("frames_1000_one", _retag_some("one", NumberOfFrames="1000"), "any")
    add("bits_allocated_8_one", _retag_some("one", BitsAllocated=8), "any")
    add("samples_3_one", _retag_some("one", SamplesPerPixel=3), "any")
    add("position_text_one", _study(
        lambda p: _retag_text(p[:1], "ImagePositionPatient", "a\\b\\c")), "warn")
    return c


def _series_cases() -> list[Case]:
    c = []
    add = lambda name, make, expect="any", **kw: c.append(Case("series", name, make, expect, **kw))  # noqa: E731

    def dup(p): shutil.copy(p[3], p[3].parent / "copy_of_3.dcm")  # noqa: E704
    add("duplicate_file", _study(dup), "ok", n_slices=N_SLICES)
    add("missing_middle_slices", _study(lambda p: [x.unlink() for x in p[4:7]]), "warn")
    add("uneven_spacing", _study(_positions([30 + 2.5 * k + (k > 6) * 1.3 for k in range(12)])),
        "warn")
    add("all_one_position", _study(_positions([30.0] * N_SLICES)), "error")
    add("single_slice", lambda r: (series(r / "s", 1), [str(r / "s")])[1], "error")
    add("two_slices", lambda r: (series(r / "s", 2), [str(r / "s")])[1], "ok")
    add("turned_minority", _retag_some("one", ImageOrientationPatient=[0, 1, 0, 0, 0, -1]), "warn")

    def mixed_sizes(root: Path, n_odd: int) -> list[str]:
        a = series(root / "s" / "a", N_SLICES - n_odd)
        b = series(root / "s" / "b", n_odd, seed=5, shape=(40, 40))
        ds = pydicom.dcmread(a[0])
        f.retag(b, SeriesInstanceUID=ds.SeriesInstanceUID, StudyInstanceUID=ds.StudyInstanceUID)
        return [str(root / "s")]

    add("mixed_sizes_majority", lambda r: mixed_sizes(r, 1), "warn")
    add("mixed_sizes_half", lambda r: mixed_sizes(r, 6), "error")
    add("two_series", lambda r: (series(r / "s" / "a"), series(r / "s" / "b", seed=9),
                                 [str(r / "s")])[2], "ok")  # fmt: skip
    add("only_localizer", lambda r: (f.make_localizer(r / "s"), [str(r / "s")])[1], "error")
    add("only_mr", lambda r: (f.make_mr(r / "s"), [str(r / "s")])[1], "error")
    add("only_derived", lambda r: (f.make_derived(r / "s"), [str(r / "s")])[1], "error")
    add("contrast_only", _retag_some("all", ContrastBolusAgent="IOMERON"), "error")
    add("rle_compressed", lambda r: (series(r / "s", transfer_syntax=pydicom.uid.RLELossless),
                                     [str(r / "s")])[1], "ok", n_slices=N_SLICES)  # fmt: skip
    add("no_preamble", _raw_all(lambda p: p.write_bytes(p.read_bytes()[132:])), "any")
    add("tilted", lambda r: (f.write(r / "s", f.make_volume(
        (N_SLICES, 32, 32), direction=f.tilted_direction(15.0), patient_name=PLANTED_NAME,
        patient_id=PLANTED_ID)), [str(r / "s")])[1], "warn")  # fmt: skip
    add("files_given_one_by_one", lambda r: [str(p) for p in series(r / "s")], "ok")
    return c


def _special_cases() -> list[Case]:
    c = []
    add = lambda name, make, expect, **kw: c.append(Case("special", name, make, expect, **kw))  # noqa: E731

    def beside(thing: Callable[[Path], None]) -> Callable[[Path], list[str]]:
        return _study(lambda p: thing(p[0].parent))

    add("fifo_in_folder", beside(lambda d: raw.make_fifo(d / "pipe.dcm")), "warn")
    add("fifo_given", lambda r: (raw.make_fifo(r / "pipe.dcm"), [str(r / "pipe.dcm")])[1], "error")
    add("link_dev_zero", beside(lambda d: os.symlink("/dev/zero", d / "zero.dcm")), "warn")
    add("link_dev_urandom", beside(lambda d: os.symlink("/dev/urandom", d / "rand.dcm")), "warn")
    add("link_dev_zero_given", lambda r: (os.symlink("/dev/zero", r / "z.dcm"),
                                          [str(r / "z.dcm")])[1], "error")  # fmt: skip
    add("link_loop", beside(lambda d: (os.symlink(d / "b", d / "a"), os.symlink(d / "a", d / "b"))),
        "warn")
    add("dir_link_loop", beside(lambda d: os.symlink("..", d / "up")), "ok")
    add("link_out_of_tree", beside(lambda d: os.symlink("/etc/passwd", d / "passwd.dcm")), "warn")
    add("zero_filled_200mb", beside(lambda d: raw.sparse_zero_file(d / "IM9999.dcm", 200 << 20)),
        "warn")
    add("zero_filled_alone", lambda r: (r.joinpath("z").mkdir(), raw.sparse_zero_file(
        r / "z" / "IM1.dcm", 200 << 20), [str(r / "z")])[2], "error")  # fmt: skip
    add("empty_files_beside", beside(
        lambda d: [(d / f"e{k}.dcm").write_bytes(b"") for k in range(3)]), "warn")  # fmt: skip
    add("empty_folder", lambda r: (r.joinpath("e").mkdir(), [str(r / "e")])[1], "error")
    add("text_only", lambda r: (r.joinpath("t").mkdir(), (r / "t" / "a.txt").write_text("x"),
                                [str(r / "t")])[2], "error")  # fmt: skip

    def sock(d: Path) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(d / "sock"))
        s.close()

    add("socket_in_folder", beside(sock), "warn")

    def deep(root: Path) -> list[str]:
        folder = root / "d"
        for k in range(40):
            folder = folder / f"l{k}"
        series(folder)
        return [str(root / "d")]

    add("folders_40_deep", deep, "error")
    add("missing_path", lambda r: [str(r / "nothing")], "error")
    return c


def cases(seed: int = 16) -> list[Case]:
    """The whole corpus (deterministic for a seed)."""
    from tests.fuzz.containers import container_cases

    return (
        _byte_cases(seed) + _tag_cases() + _corruption_cases() + _series_cases()
        + _special_cases() + container_cases()
    )  # fmt: skip
