"""A windowed frozen app can start without stdout/stderr; a stray print must not crash it."""

from __future__ import annotations

import subprocess
import sys


def test_stray_print_without_std_streams_does_not_crash(tmp_path) -> None:
    code = (
        "import sys\n"
        "sys.stdout = None\n"
        "sys.stderr = None\n"
        "from ichviewer.__main__ import _ensure_std_streams\n"
        "_ensure_std_streams()\n"
        "print('stray print from a library')\n"
        "sys.stderr.write('stray warning\\n')\n"
        f"open({str(tmp_path / 'ok')!r}, 'w').write('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ok").read_text() == "ok"
