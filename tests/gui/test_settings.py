"""The typed QSettings wrapper: defaults, validation, round trips, recent studies."""

from __future__ import annotations

import pytest

from ichviewer.settings import MAX_RECENT, Settings


def test_defaults_and_round_trip(tmp_path):
    path = tmp_path / "s.ini"
    s = Settings(path)
    assert (s.last_folder, s.window_preset, s.device) == ("", "brain", "auto")
    assert s.heatmap_opacity == pytest.approx(0.45)
    assert s.geometry is None and s.recent_studies == []
    s.last_folder = tmp_path
    s.window_preset = "bone"
    s.heatmap_opacity = 0.8
    s.device = "cpu"
    s.sync()
    again = Settings(path)
    assert again.last_folder == str(tmp_path)
    assert again.window_preset == "bone"
    assert again.heatmap_opacity == pytest.approx(0.8)
    assert again.device == "cpu"


def test_bad_values_never_crash(tmp_path):
    path = tmp_path / "s.ini"
    path.write_text("[view]\nheatmap_opacity=banana\n[model]\ndevice=tpu\n")
    s = Settings(path)
    assert s.heatmap_opacity == pytest.approx(0.45)
    assert s.device == "auto"
    s.heatmap_opacity = 7
    assert s.heatmap_opacity == 1.0
    with pytest.raises(ValueError):
        s.device = "tpu"


def test_recent_studies_most_recent_first_without_duplicates(tmp_path):
    s = Settings(tmp_path / "s.ini")
    for i in range(MAX_RECENT + 3):
        s.add_recent_study(f"/studies/{i}")
    s.add_recent_study("/studies/5")
    recent = Settings(tmp_path / "s.ini").recent_studies
    assert recent[0] == "/studies/5"
    assert len(recent) == MAX_RECENT and len(set(recent)) == MAX_RECENT
    s.clear_recent_studies()
    assert s.recent_studies == []
    s.add_recent_study("/only/one")  # a one-item list comes back from the INI as a string
    assert Settings(tmp_path / "s.ini").recent_studies == ["/only/one"]
