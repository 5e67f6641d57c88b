"""The three scores, item by item, from their primary papers.

**ICH score** - Hemphill JC 3rd et al. *The ICH score: a simple, reliable grading scale for
intracerebral hemorrhage.* Stroke 2001;32:891-897. Items (the paper's score table): GCS 3-4 = 2,
5-12 = 1, 13-15 = 0; ICH volume >= 30 cm3 = 1; intraventricular hemorrhage = 1; infratentorial
origin = 1; age >= 80 years = 1 (total 0-6). 30-day mortality by total in the derivation
cohort (n = 152): 0: 0 %, 1: 13 %, 2: 26 %, 3: 72 %, 4: 97 %, 5: 100 %; no patient scored 6.
Public calculators disagree with the paper (GCS "3-5" for 2 points, "94 %" at 4, a
"100 %" row for 6): we follow the paper. Hemphill measured the volume on the initial CT with
ABC/2, so the ICH score is fed the ABC/2 volume.

**FUNC score** - Rost NS et al. *Prediction of functional outcome in patients with primary
intracerebral hemorrhage: the FUNC score.* Stroke 2008;39:2304-2309. Items (the paper's score
table): ICH volume < 30 cm3 = 4, 30-60 = 2, > 60 = 0; age < 70 = 2, 70-79 = 1, >= 80 = 0;
location lobar = 2, deep = 1, infratentorial = 0; GCS >= 9 = 2, <= 8 = 0; pre-ICH cognitive
impairment no = 1, yes = 0 (total 0-11; higher is better). Outcome: functional independence
(Glasgow Outcome Score >= 4) at 90 days, by the paper's score bands 0-4, 5-7, 8, 9-10, 11.

Outcome rows, and the sources each was checked against (searched 2026-12; a row is shown only
when two sources agree on it, see :data:`FUNC_INDEPENDENCE`):

* 0-4: "0 %". The paper's abstract ("No patient assigned a FUNC score <= 4 achieved
  functional independence"; copies of the abstract at
  virascience.com/document/5d638ee1c64600d5dfe5d09a9ab80a428fdb823f and of the paper at
  ja.scribd.com/document/359899718) and the QxMD calculator
  (qxmd.com/calculate/calculator_117/ich-func-score: "Score 0-4: 0%").
* 11: "> 80 %". The abstract ("whereas > 80% with a score of 11 did"), the authors' own MGH
  page (stopstroke.massgeneral.org/funcCalculator.aspx: "greater than 80% with a score of 11
  did in both patient cohorts") and QxMD's text ("greater than 80%"). QxMD's table says 95 %
  for 11; no second source gives that number, so we show what three agree on.
* 5-7, 8, 9-10: **not transcribed**. The only source with numbers is QxMD (29 %, 48 %,
  75 %; the Medscape calculator reference.medscape.com/calculator/117 is the same QxMD text,
  not a second source); the paper gives them in its figure, which we could not read, and the
  MGH page's data table is an image. Until a second source confirms them the panel says "not
  transcribed" for these bands rather than show one calculator's number. (An earlier note here
  said QxMD's figures contradict the abstract: they do not; the abstract says "> 80 %".)

**max-ICH score** - Sembill JA et al. *Severity assessment in maximally treated ICH patients:
the max-ICH score.* Neurology 2017;89:423-431. Items (the paper's score table): NIHSS 0-6 = 0,
7-13 = 1, 14-20 = 2, >= 21 = 3; age <= 69 = 0, 70-74 = 1, 75-79 = 2, >= 80 = 3; lobar ICH volume
>= 30 ml = 1; non-lobar (deep, cerebellar, brainstem) ICH volume >= 10 ml = 1; intraventricular
hemorrhage = 1; oral anticoagulation = 1 (total 0-10). The items were cross-checked against
medicalalgorithms.com ("Max-ICH score of Sembill et al", the same six items and cut-offs, total
0-10) and the item weights against Table 1 of a BMJ Stroke & Vascular Neurology comparison
(svn.bmj.com, "Components of the original ICH score, modified-ICH score, max-ICH score and FUNC
score": NIHSS 3, age 3, volume 2, IVH 1, anticoagulation 1; total 10).
Outcome: unfavourable functional outcome (modified Rankin 4-6) at 12 months, rising with the
score. The per-score proportions are **not transcribed**: they are in the paper's figure, and
no source we could search (MDCalc-like calculators, medicalalgorithms.com, the external
validations of Schmidt et al., Neurology 2018;91:e939, and Suo et al., CNS Neurosci Ther 2018,
the review of Witsch et al., Neurol Res Pract 2021;3:22) states them per score, so no number
is shown.

FUNC and max-ICH are fed the planimetric volume (our primary measurement); their papers' own
volume method is not recorded in this build, which is one more reason every score also shows the
result with the other method whenever the two volumes fall on either side of a threshold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ichmodel.scores.inputs import Age, ClinicalInputs, ImagingInputs
from ichmodel.scores.types import VOLUME_METHOD_LABEL, ScoreItem

HEMPHILL_2001 = "Hemphill et al., Stroke 2001;32:891-897"
ROST_2008 = "Rost et al., Stroke 2008;39:2304-2309"
SEMBILL_2017 = "Sembill et al., Neurology 2017;89:423-431"

#: Hemphill 2001: 30-day mortality by ICH score (derivation cohort, n = 152).
ICH_SCORE_MORTALITY = {0: "0 %", 1: "13 %", 2: "26 %", 3: "72 %", 4: "97 %", 5: "100 %"}
ICH_SCORE_NOT_OBSERVED = "not observed (no patient scored 6 in Hemphill 2001)"


@dataclass(frozen=True)
class OutcomeRow:
    """One band of a score's outcome table: totals ``lo``..``hi`` (inclusive), the outcome
    ``text`` (None: not transcribed) and the sources it was checked against."""

    lo: int
    hi: int
    text: str | None
    sources: tuple[str, ...]

    @property
    def band(self) -> str:
        return f"{self.lo}" if self.lo == self.hi else f"{self.lo}-{self.hi}"


_FUNC_ABSTRACT = "Rost 2008 abstract"
_QXMD = "QxMD FUNC calculator"
_MGH = "MGH FUNC page (the authors')"

#: Rost 2008: functional independence (GOS >= 4) at 90 days by FUNC band; see the module
#: docstring for each row's sources. ``text`` None = not transcribed (one source only).
FUNC_INDEPENDENCE: tuple[OutcomeRow, ...] = (
    OutcomeRow(0, 4, "0 %", (_FUNC_ABSTRACT, _QXMD)),
    OutcomeRow(5, 7, None, (_QXMD,)),
    OutcomeRow(8, 8, None, (_QXMD,)),
    OutcomeRow(9, 10, None, (_QXMD,)),
    OutcomeRow(11, 11, "> 80 %", (_FUNC_ABSTRACT, _MGH, _QXMD)),
)

#: max-ICH (Sembill 2017): no per-score row could be checked against a source.
MAX_ICH_NOT_TRANSCRIBED = (
    "not transcribed (no source we could cite states it per score); rises with the score"
)

NOT_ENTERED = "not entered"


@dataclass(frozen=True)
class ScoreSpec:
    """How one score turns inputs into items, and its outcome table."""

    name: str
    reference: str
    max_points: int
    outcome_label: str
    volume_method: str
    volume_method_reason: str
    #: (volume_ml or None, method, imaging or None, clinical, age) -> items
    items: Callable[
        [float | None, str, ImagingInputs | None, ClinicalInputs, Age], tuple[ScoreItem, ...]
    ]
    outcome: Callable[[int], str]
    #: The volume thresholds (ml) of the score for this imaging (for the straddle sentence).
    thresholds: Callable[[ImagingInputs], tuple[float, ...]]
    #: Whether the outcome table has a transcribed row for this total (not "not transcribed").
    transcribed: Callable[[int], bool] = lambda total: True


# --- shared items ------------------------------------------------------------------------------
def _missing(key: str, label: str, why: str = NOT_ENTERED, source: str = "reader") -> ScoreItem:
    return ScoreItem(key, label, why, None, source)


def _gcs_item(clinical: ClinicalInputs, points: Callable[[int], int]) -> ScoreItem:
    if clinical.gcs is None:
        return _missing("gcs", "GCS")
    return ScoreItem("gcs", "GCS", f"GCS {clinical.gcs}", points(clinical.gcs), "reader")


def _age_item(age: Age, points: Callable[[int], int]) -> ScoreItem:
    if age.years is None:
        return _missing("age", "age", age.source, "DICOM")
    return ScoreItem("age", "age", f"{age.years} years", points(age.years), age.source)


def _imaging_missing(imaging: ImagingInputs | None) -> str | None:
    """Why imaging items cannot be scored, or None when they can."""
    if imaging is None:
        return "not measured"
    if imaging.location == "none" or imaging.planimetric_ml <= 0:
        return "no hematoma measured"
    return None


def _volume_item(
    volume_ml: float | None, method: str, label: str, points: Callable[[float], int]
) -> ScoreItem:
    name = VOLUME_METHOD_LABEL[method]
    if volume_ml is None:
        return _missing("volume", label, f"no {name} volume", "measurement")
    return ScoreItem("volume", label, f"{volume_ml:.1f} ml ({name})", points(volume_ml),
                     "measurement")


def _ivh_item(imaging: ImagingInputs | None, why: str | None) -> ScoreItem:
    if why is not None or imaging is None:
        return _missing("ivh", "intraventricular hemorrhage", why or "not measured", "measurement")
    return ScoreItem("ivh", "intraventricular hemorrhage", "yes" if imaging.ivh else "no",
                     int(imaging.ivh), "measurement")


def one_point_at(threshold: float) -> Callable[[float], int]:
    """An item worth 1 point at or above ``threshold`` (in the item's unit), else 0."""

    def points(value: float) -> int:
        return int(value >= threshold)

    return points


def _yes_no_item(key: str, label: str, value: bool | None, yes: int, no: int) -> ScoreItem:
    if value is None:
        return _missing(key, label)
    return ScoreItem(key, label, "yes" if value else "no", yes if value else no, "reader")


# --- ICH score (Hemphill 2001) -----------------------------------------------------------------
def ich_gcs_points(gcs: int) -> int:
    return 2 if gcs <= 4 else 1 if gcs <= 12 else 0


ICH_VOLUME_ML = 30.0
ich_volume_points = one_point_at(ICH_VOLUME_ML)
ich_age_points = one_point_at(80)  # years


def _ich_items(volume_ml, method, imaging, clinical, age) -> tuple[ScoreItem, ...]:
    why = _imaging_missing(imaging)
    if why is None and imaging is not None:
        volume = _volume_item(volume_ml, method, "ICH volume >= 30 ml", ich_volume_points)
        infra = imaging.location == "infratentorial"
        origin = ScoreItem("infratentorial", "infratentorial origin", "yes" if infra else "no",
                           int(infra), "measurement (location, best effort)")
    else:
        volume = _missing("volume", "ICH volume >= 30 ml", why or "", "measurement")
        origin = _missing("infratentorial", "infratentorial origin", why or "", "measurement")
    return (
        _gcs_item(clinical, ich_gcs_points),
        volume,
        _ivh_item(imaging, why),
        origin,
        _age_item(age, ich_age_points),
    )


def _ich_outcome(total: int) -> str:
    return ICH_SCORE_MORTALITY.get(total, ICH_SCORE_NOT_OBSERVED)


ICH_SCORE = ScoreSpec(
    name="ICH score",
    reference=HEMPHILL_2001,
    max_points=6,
    outcome_label="30-day mortality",
    volume_method="abc2",
    volume_method_reason="Hemphill 2001 measured the volume with ABC/2",
    items=_ich_items,
    outcome=_ich_outcome,
    thresholds=lambda imaging: (ICH_VOLUME_ML,),
    transcribed=lambda total: total in ICH_SCORE_MORTALITY,
)


# --- FUNC (Rost 2008) --------------------------------------------------------------------------
FUNC_VOLUME_ML = (30.0, 60.0)


def func_volume_points(volume_ml: float) -> int:
    low, high = FUNC_VOLUME_ML
    return 4 if volume_ml < low else 2 if volume_ml <= high else 0


def func_age_points(years: int) -> int:
    return 2 if years < 70 else 1 if years < 80 else 0


def func_gcs_points(gcs: int) -> int:
    return 2 if gcs >= 9 else 0


FUNC_LOCATION_POINTS = {"lobar": 2, "deep": 1, "infratentorial": 0}


def _func_items(volume_ml, method, imaging, clinical, age) -> tuple[ScoreItem, ...]:
    why = _imaging_missing(imaging)
    if why is None and imaging is not None:
        volume = _volume_item(volume_ml, method, "ICH volume", func_volume_points)
        location = ScoreItem("location", "ICH location", imaging.location,
                             FUNC_LOCATION_POINTS[imaging.location],
                             "measurement (location, best effort)")
    else:
        volume = _missing("volume", "ICH volume", why or "", "measurement")
        location = _missing("location", "ICH location", why or "", "measurement")
    return (
        volume,
        _age_item(age, func_age_points),
        location,
        _gcs_item(clinical, func_gcs_points),
        _yes_no_item("cognitive_impairment", "pre-ICH cognitive impairment",
                     clinical.cognitive_impairment, yes=0, no=1),
    )


def func_outcome_row(total: int) -> OutcomeRow:
    """The band of :data:`FUNC_INDEPENDENCE` holding ``total`` (0-11)."""
    for row in FUNC_INDEPENDENCE:
        if row.lo <= total <= row.hi:
            return row
    raise ValueError(f"a FUNC total is 0-11, got {total}")


def _func_outcome(total: int) -> str:
    row = func_outcome_row(total)
    if row.text is not None:
        return row.text
    return f"band {row.band} not transcribed (one source only, not confirmed by a second)"


FUNC_SCORE = ScoreSpec(
    name="FUNC score",
    reference=ROST_2008,
    max_points=11,
    outcome_label="functional independence (GOS >= 4) at 90 days",
    volume_method="planimetric",
    volume_method_reason="our primary (planimetric) volume; the paper's method is not recorded "
    "here",
    items=_func_items,
    outcome=_func_outcome,
    thresholds=lambda imaging: FUNC_VOLUME_ML,
    transcribed=lambda total: func_outcome_row(total).text is not None,
)


# --- max-ICH (Sembill 2017) --------------------------------------------------------------------
def max_ich_nihss_points(nihss: int) -> int:
    return 0 if nihss <= 6 else 1 if nihss <= 13 else 2 if nihss <= 20 else 3


def max_ich_age_points(years: int) -> int:
    return 0 if years <= 69 else 1 if years <= 74 else 2 if years <= 79 else 3


MAX_ICH_LOBAR_ML, MAX_ICH_NONLOBAR_ML = 30.0, 10.0
max_ich_lobar_points = one_point_at(MAX_ICH_LOBAR_ML)
max_ich_nonlobar_points = one_point_at(MAX_ICH_NONLOBAR_ML)


def _max_ich_items(volume_ml, method, imaging, clinical, age) -> tuple[ScoreItem, ...]:
    why = _imaging_missing(imaging)
    lobar_label, nonlobar_label = "lobar ICH volume >= 30 ml", "non-lobar ICH volume >= 10 ml"
    if why is None and imaging is not None:
        # One location per study today: the other compartment's item has no hematoma (0).
        if imaging.location == "lobar":
            lobar = _volume_item(volume_ml, method, lobar_label, max_ich_lobar_points)
            nonlobar = ScoreItem("volume_nonlobar", nonlobar_label, "no non-lobar hematoma", 0,
                                 "measurement")
        else:
            lobar = ScoreItem("volume_lobar", lobar_label, "no lobar hematoma", 0, "measurement")
            nonlobar = _volume_item(volume_ml, method, nonlobar_label, max_ich_nonlobar_points)
    else:
        lobar = _missing("volume_lobar", lobar_label, why or "", "measurement")
        nonlobar = _missing("volume_nonlobar", nonlobar_label, why or "", "measurement")
    if clinical.nihss is None:
        nihss = _missing("nihss", "NIHSS")
    else:
        nihss = ScoreItem("nihss", "NIHSS", f"NIHSS {clinical.nihss}",
                          max_ich_nihss_points(clinical.nihss), "reader")
    return (
        nihss,
        _age_item(age, max_ich_age_points),
        lobar,
        nonlobar,
        _ivh_item(imaging, why),
        _yes_no_item("anticoagulation", "oral anticoagulation", clinical.anticoagulated,
                     yes=1, no=0),
    )


MAX_ICH_SCORE = ScoreSpec(
    name="max-ICH score",
    reference=SEMBILL_2017,
    max_points=10,
    outcome_label="unfavourable outcome (mRS 4-6) at 12 months",
    volume_method="planimetric",
    volume_method_reason="our primary (planimetric) volume; the paper's method is not recorded "
    "here",
    items=_max_ich_items,
    outcome=lambda total: MAX_ICH_NOT_TRANSCRIBED,
    thresholds=lambda imaging: (
        (MAX_ICH_LOBAR_ML,) if imaging.location == "lobar" else (MAX_ICH_NONLOBAR_ML,)
    ),
    transcribed=lambda total: False,
)

SPECS = (ICH_SCORE, FUNC_SCORE, MAX_ICH_SCORE)
