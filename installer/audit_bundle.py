"""Check what a built bundle contains: no test suites, no caches, no patient data.

Usage: python installer/audit_bundle.py dist/ichviewer
Prints the bundle's size and its largest parts; exits 1 with the offending paths otherwise.
The only DICOM files allowed are the synthetic sample study under resources/sample_study.
"""

from __future__ import annotations

import sys
from pathlib import Path

FORBIDDEN_DIRS = {"tests", "test", "__pycache__", ".pytest_cache", "include"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def audit(bundle: Path) -> list[str]:
    problems = []
    for path in bundle.rglob("*"):
        rel = path.relative_to(bundle)
        if any(part.endswith(".dist-info") for part in rel.parts):
            continue  # package metadata and licence texts, which must ship
        if path.is_dir() and path.name in FORBIDDEN_DIRS:
            problems.append(f"{rel}/: test suites, headers and caches do not ship")
        elif path.is_file() and _is_dicom(path) and "sample_study" not in rel.parts:
            problems.append(f"{rel}: a DICOM file outside the synthetic sample study")
    return problems


def main(argv: list[str]) -> int:
    bundle = Path(argv[1] if len(argv) > 1 else "dist/ichviewer")
    if not (bundle / "ichviewer").is_file():
        print(f"audit: {bundle}/ichviewer not found; build the bundle first", file=sys.stderr)
        return 2
    files = [p for p in bundle.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    print(f"bundle: {bundle} — {len(files)} files, {total / 2**20:.0f} MiB")
    internal = bundle / "_internal"
    parts = {}
    for p in files:
        rel = p.relative_to(internal) if internal in p.parents else p.relative_to(bundle)
        parts[rel.parts[0]] = parts.get(rel.parts[0], 0) + p.stat().st_size
    for name, size in sorted(parts.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {size / 2**20:7.0f} MiB  {name}")
    problems = audit(bundle)
    for line in problems:
        print(f"audit: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
