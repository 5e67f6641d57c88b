"""The desktop check names the missing xcb libraries and the exact install command."""

from __future__ import annotations

from ichviewer import desktop_check as dc


def test_xcb_is_expected_only_on_a_linux_x11_start() -> None:
    assert dc.uses_xcb({}, "linux")
    assert dc.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not dc.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not dc.uses_xcb({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert not dc.uses_xcb({}, "darwin")


def test_a_missing_library_gives_the_apt_and_dnf_lines(monkeypatch) -> None:
    fake = dc.SystemLibrary("libdefinitely-not-here.so.7", "libnothere7", "nothere-libs")
    monkeypatch.setattr(dc, "XCB_LIBRARIES", dc.XCB_LIBRARIES[-1:] + (fake,))
    missing = dc.missing_libraries()
    assert missing == [fake]
    hint = dc.install_hint(missing)
    assert "sudo apt-get install libnothere7\n" in hint
    assert "sudo dnf install nothere-libs\n" in hint


def test_the_viewer_stops_with_the_message_before_qt(monkeypatch, capsys) -> None:
    import ichviewer.__main__ as entry

    monkeypatch.setattr(dc, "check_desktop", lambda: "need libxcb-icccm4")
    monkeypatch.setattr(dc, "show_plainly", lambda message: print(message))
    assert entry.main(["--demo"]) == entry.EXIT_FAILED
    assert "need libxcb-icccm4" in capsys.readouterr().out


def test_readme_and_ci_list_every_debian_package() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme, ci = (root / "README.md").read_text(), (root / ".ci" / "run").read_text()
    for lib in dc.XCB_LIBRARIES:
        assert lib.debian in readme and lib.fedora in readme and lib.debian in ci, lib
