"""GUI test setup: offscreen Qt, a private log folder and settings file, fake ichmodel jobs."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("QT_LOGGING_RULES", "qt.qpa.*=false")

import pytest  # noqa: E402

from tests.gui import fakes  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _app(tmp_path_factory):
    """The styled QApplication, and logs going to a private folder (as the app sets them up)."""
    os.environ["ICHVIEWER_LOG_DIR"] = str(tmp_path_factory.mktemp("logs"))
    from ichviewer.app import create_app
    from ichviewer.logging_setup import setup_logging

    setup_logging(to_stderr=False)
    return create_app()


@pytest.fixture
def settings(tmp_path):
    from ichviewer.settings import Settings

    return Settings(tmp_path / "settings.ini")


@pytest.fixture
def slice_view(qtbot):
    """A shown 500x500 SliceView holding the small fake volume (tests/gui/fakes.py)."""
    from ichviewer.widgets.slice_view import SliceView

    view = SliceView()
    qtbot.addWidget(view)
    view.resize(500, 500)
    view.show()
    view.set_volume(fakes.make_volume())
    qtbot.waitExposed(view)
    return view


@pytest.fixture
def fake_jobs(monkeypatch):
    """Replace ichviewer.jobs' ichmodel calls with fast fakes (see tests/gui/fakes.py)."""
    return fakes.install(monkeypatch)


@pytest.fixture
def window(qtbot, settings):
    from ichviewer.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.controller.shutdown(5000)
    for dialog in list(win.error_dialogs):
        dialog.close()
