"""ichmodel: everything in ICH Viewer that computes. Never imports Qt.

Data flows one way through small typed objects (see ../shared/DESIGN.md):
DICOM -> SeriesInfo -> Volume -> Measurement / ModelInput -> Prediction.
"""

__version__ = "0.1.0"
