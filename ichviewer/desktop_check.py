"""Before Qt starts on a Linux desktop: are the system libraries of Qt's xcb platform there?

PySide6's wheel bundles Qt but not the X11 client libraries its ``xcb`` platform plugin links
(``ldd PySide6/Qt/plugins/platforms/libqxcb.so`` and ``libQt6XcbQpa.so.6``), nor
``libxcb-cursor0``, which Qt 6.5+ requires to load the plugin at all. Without them Qt prints
"Could not load the Qt platform plugin xcb" and aborts — and a windowed frozen app shows
nothing. This check dlopens each library first and, when one is missing, says which packages
to install (Debian/Ubuntu and Fedora names, as README.md lists them).

    python -m ichviewer.desktop_check     # exit 0 when all are there, else 1 with the command

No Qt import here: it must work exactly when Qt cannot.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class SystemLibrary:
    soname: str
    debian: str
    fedora: str


#: What libqxcb.so / libQt6XcbQpa.so.6 link (PySide6 6.x), plus the dlopen'ed xcb-cursor.
XCB_LIBRARIES = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libX11.so.6", "libx11-6", "libX11"),
    SystemLibrary("libEGL.so.1", "libegl1", "libglvnd-egl"),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)


def uses_xcb(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """True when Qt will try its xcb plugin (Linux, no other platform chosen)."""
    env = os.environ if environ is None else environ
    if (platform or sys.platform) != "linux":
        return False
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")  # on Wayland Qt picks its wayland plugin first


def missing_libraries() -> list[SystemLibrary]:
    """The libraries of :data:`XCB_LIBRARIES` the dynamic loader cannot open."""
    missing = []
    for lib in XCB_LIBRARIES:
        try:
            ctypes.CDLL(lib.soname)
        except OSError:
            missing.append(lib)
    return missing


def install_hint(missing: list[SystemLibrary]) -> str:
    debian = " ".join(dict.fromkeys(lib.debian for lib in missing))
    fedora = " ".join(dict.fromkeys(lib.fedora for lib in missing))
    names = ", ".join(lib.soname for lib in missing)
    return (
        f"ICH Viewer cannot open its window: Qt's X11 (xcb) platform needs system libraries "
        f"that are not installed ({names}).\n"
        f"On Debian/Ubuntu:  sudo apt-get install {debian}\n"
        f"On Fedora:         sudo dnf install {fedora}\n"
        "(or run on Wayland, or headless with QT_QPA_PLATFORM=offscreen)"
    )


def show_plainly(message: str) -> None:
    """Tell the user without Qt: stderr when there is one, else a desktop dialog if a tool
    for it exists (the windowed frozen app has no console)."""
    if sys.stderr is not None:
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    for tool, args in (("zenity", ["--error", "--no-markup", "--text"]), ("xmessage", [])):
        path = shutil.which(tool)
        if path and os.environ.get("DISPLAY"):
            try:
                subprocess.run([path, *args, message], timeout=600, check=False)
            except (OSError, subprocess.SubprocessError):
                continue
            return


def check_desktop() -> str | None:
    """None when the window can open, else the message saying what to install."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    return install_hint(missing) if missing else None


def main() -> int:
    message = check_desktop()
    if message is None:
        return 0
    sys.stderr.write(message + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
