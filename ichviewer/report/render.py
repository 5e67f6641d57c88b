"""The report's slice renderer lives in :mod:`ichmodel.render` (pure numpy) so the DICOM key
images (:mod:`ichmodel.dicom_out`) burn in exactly what the PDF shows; re-exported here."""

from ichmodel.render import (  # noqa: F401 - re-exported for the report and its tests
    A_SEGMENT_RGB,
    B_SEGMENT_RGB,
    BRAIN_WINDOW_HU,
    CAM_FLOOR,
    CAM_FULL,
    CONTOUR_RGB,
    IVH_RGB,
    RenderedSlice,
    apply_colormap,
    colormap_names,
    head_bbox_yx,
    mask_outline,
    render_slice,
    window_to_unit,
)
