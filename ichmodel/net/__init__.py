"""DICOM networking (pynetdicom): send results to PACS, receive studies, query/retrieve.

Public API::

    DicomNode.parse("ORTHANC@127.0.0.1:4242")
    scu.echo(node) · run_to_completion(scu.send(datasets, node)) -> SendReport
    scu.find_studies(node, patient_id=...) · scu.find_series(node, study_uid)
    scu.move(node, study_uid, "ICHVIEWER")             # to our listener
    StorageListener(out, port=11112, on_complete=...)  # Storage SCP (listen.py)
    process.process_study(folder, results_dir=..., send_to=node)

Every failure is a :class:`~ichmodel.net.nodes.NetworkError` with one clear sentence.
"""
