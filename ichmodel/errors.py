"""Specific exception classes. Every message says what was wrong and what to do next.

The CLI maps :class:`InputError` (and its subclasses) to exit code 3 with a single
``error: ...`` line; the GUI shows the message in a dialog.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ichmodel.train.manifest import RowProblem


class ICHError(Exception):
    """Base class of every error ichmodel raises on purpose."""


class InputError(ICHError):
    """The user's input (a study, a file, a manifest) cannot be used as given."""


# --- DICOM scanning and loading -------------------------------------------------------------
class NoDicomFoundError(InputError):
    """A path holds no readable DICOM file at all."""


class NoUsableSeriesError(InputError):
    """DICOM files were found but none is an image series we can load (localizers only, ...)."""


class SeriesNotFoundError(InputError):
    """The series UID the user asked for is not in the study."""


class UnreadableDicomError(InputError):
    """A file claims to be DICOM but cannot be parsed or decoded."""


class InconsistentSeriesError(InputError):
    """The slices of one series disagree (sizes, orientation) in a way we cannot repair."""


class SingleSliceError(InputError):
    """A series with one slice has no third dimension to measure a volume on."""


class UnsupportedModalityError(InputError):
    """The series is not CT (MR, PET, ...), so Hounsfield units do not apply."""


class MissingFilesError(InputError):
    """A DICOMDIR lists files that are not on disk."""


class PixelDataError(InputError):
    """Pixel data is missing, truncated or in a transfer syntax we cannot decode."""


class ArchiveError(InputError):
    """A .zip cannot be used: unreadable, encrypted, an unsupported compression, or it would
    inflate beyond the limits of :mod:`ichmodel.io.limits`."""


class ImplausibleInputError(InputError):
    """A header value is outside what a head CT can have (image size, spacing, extent), or the
    volume it describes would not fit the limits of :mod:`ichmodel.io.limits`."""


class MixedIdentityError(InconsistentSeriesError):
    """One series holds images of different patients or studies; they are never stacked."""


# --- Models ---------------------------------------------------------------------------------
class ModelError(ICHError):
    """A model checkpoint cannot be used."""


class CheckpointError(ModelError, InputError):
    """A checkpoint file is missing, malformed or does not match its config."""


class CheckpointIntegrityError(CheckpointError):
    """The weights' SHA-256 does not match the one recorded when they were saved."""


class PickleCheckpointError(CheckpointError):
    """A pickle-based checkpoint (.pt/.pth/.ckpt) was offered; we never unpickle."""


# --- Training -------------------------------------------------------------------------------
class TrainingError(ICHError):
    """A training run cannot start or cannot continue."""


class ManifestError(TrainingError, InputError):
    """A training/evaluation manifest has problems; ``problems`` holds each one as a
    :class:`~ichmodel.train.manifest.RowProblem` (row number, column, what is wrong), so a UI
    marks the rows without parsing the message."""

    def __init__(self, message: str, problems: Sequence[RowProblem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[RowProblem, ...] = tuple(problems)


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the run was stopped."""
