#!/usr/bin/env bash
# Build the one-folder bundle dist/ichviewer/ and smoke-test it offscreen.
# Usage: bash installer/build.sh   (or `make bundle`, which prepares .venv first)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"

"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller installer/ichviewer.spec

# Strip the symbol tables of torch's own libraries (about 100 MB; dynamic symbols stay).
# Not a blanket strip=True: that breaks prebuilt libraries such as scipy's OpenBLAS ("ELF load command ... not
# page-aligned").
if command -v strip >/dev/null; then
  find dist/ichviewer/_internal/torch/lib -name 'libtorch*.so*' -exec strip --strip-unneeded {} +
fi

# Linux desktop integration: a .desktop file and the icon beside the executable.
cp installer/ichviewer.desktop dist/ichviewer/ichviewer.desktop
cp resources/icons/ichviewer.png dist/ichviewer/ichviewer.png
sed -i "s|^Exec=.*|Exec=$(pwd)/dist/ichviewer/ichviewer %F|; s|^Icon=.*|Icon=$(pwd)/dist/ichviewer/ichviewer.png|" \
  dist/ichviewer/ichviewer.desktop

# Size report, and no test suites, caches or patient data in what we ship.
"$PY" installer/audit_bundle.py dist/ichviewer

# The bundle must start, load the sample study, measure, predict and write a report.
mkdir -p build
QT_QPA_PLATFORM=offscreen timeout 300 dist/ichviewer/ichviewer --smoke-test \
  --report-out build/smoke-report.pdf
echo "smoke test passed: build/smoke-report.pdf"
