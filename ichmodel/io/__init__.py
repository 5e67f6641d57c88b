"""Reading and writing studies: DICOM scan/load, NIfTI and DICOM writers."""
