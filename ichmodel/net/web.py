"""DICOMweb STOW-RS (dicomweb-client): the same results to a PACS that speaks HTTP.

``url`` is the DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web``. Failures are one
:class:`~ichmodel.net.nodes.NetworkError` sentence, as for DIMSE.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from urllib.parse import urlparse

from ichmodel.net.nodes import NetworkError
from ichmodel.net.scu import DEFAULT_TIMEOUT_S, SendReport

log = logging.getLogger(__name__)


def check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise NetworkError(
            f"{url!r} is not a DICOMweb URL: write http(s)://HOST:PORT/PATH, "
            "e.g. http://127.0.0.1:8042/dicom-web"
        )
    return url.rstrip("/")


def stow(
    datasets: Sequence, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, retries: int = 2
) -> SendReport:
    """STOW-RS every dataset (one request per study) to ``url``; a :class:`SendReport`.
    ``retries``: further attempts after a failed request (short back-off)."""
    import requests
    from dicomweb_client import DICOMwebClient

    url = check_url(url)
    client = DICOMwebClient(url, timeout=timeout_s)
    # dicomweb-client's default is 5 attempts with second-scale exponential back-off, about
    # 30 s before a down server is reported; ours says so within a few seconds
    client.set_http_retry_params(retry=retries > 0, max_attempts=retries + 1,
                                 wait_exponential_multiplier=200)
    stored: list[str] = []
    failed: list[tuple[str, str]] = []
    by_study: dict[str, list] = {}
    for ds in datasets:
        by_study.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    for study_uid, group in by_study.items():
        try:
            response = client.store_instances(group, study_instance_uid=study_uid)
        except requests.exceptions.ConnectionError as exc:
            raise NetworkError(f"{url}: cannot connect; is the DICOMweb server running?") from exc
        except requests.exceptions.Timeout as exc:
            raise NetworkError(f"{url}: no answer within {timeout_s:g} s") from exc
        except requests.exceptions.HTTPError as exc:
            code = exc.response.status_code if exc.response is not None else "?"
            raise NetworkError(
                f"{url}: the server refused the upload (HTTP {code}); check the URL and that "
                "STOW-RS is enabled there"
            ) from exc
        refused = {
            str(item.ReferencedSOPInstanceUID): f"failure reason {item.get('FailureReason', '?')}"
            for item in response.get("FailedSOPSequence", [])
        }
        for ds in group:
            uid = str(ds.SOPInstanceUID)
            if uid in refused:
                failed.append((uid, refused[uid]))
            else:
                stored.append(uid)
    log.info("STOW-RS: %d stored, %d refused", len(stored), len(failed))
    return SendReport(node=url, stored=tuple(stored), failed=tuple(failed))
