"""ichmodel must never import Qt, pyqtgraph or ichviewer (the one-way arrow of DESIGN.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "ichviewer", "shiboken6")
ICHMODEL = Path(__file__).resolve().parents[2] / "ichmodel"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_qt_import_in_ichmodel_source() -> None:
    offenders = []
    for path in sorted(ICHMODEL.rglob("*.py")):
        for name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ICHMODEL.parent)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_importing_every_ichmodel_module_loads_no_qt() -> None:
    """Also catches indirect imports (a dependency that pulls Qt in)."""
    modules = [
        ".".join(p.relative_to(ICHMODEL.parent).with_suffix("").parts)
        for p in ICHMODEL.rglob("*.py")
        if p.name != "__main__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m.removesuffix('.__init__'))\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=ICHMODEL.parent,
    )
    assert out.stdout.strip() == "", f"Qt modules loaded by ichmodel: {out.stdout}"


REPO = ICHMODEL.parent


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with pyproject.toml's contracts over the packages under ``root``."""
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(exe), "--config", str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=root, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_import_contracts_hold() -> None:
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_contracts_catch_io_importing_train_and_qt_in_ichmodel(tmp_path) -> None:
    import shutil

    for package in ("ichmodel", "ichviewer"):
        shutil.copytree(REPO / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    io_init = tmp_path / "ichmodel" / "io" / "__init__.py"
    io_init.write_text(io_init.read_text() + "\nimport ichmodel.train.loop  # noqa\n")
    volume = tmp_path / "ichmodel" / "volume.py"
    volume.write_text(volume.read_text() + "\nimport PySide6.QtCore  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "ichmodel.io is not allowed to import ichmodel.train" in done.stdout
    assert "ichmodel is not allowed to import PySide6" in done.stdout


def test_the_product_never_imports_research_bench_or_tools() -> None:
    """research/ (how the demo model was made), bench/ and tools/ sit beside the product; the
    app and its bundle must work without them. Research code runs on machines without Qt."""
    root = ICHMODEL.parent
    offenders = []
    for package in ("ichmodel", "ichviewer"):
        for path in sorted((root / package).rglob("*.py")):
            for name in _imported_modules(path):
                if name.split(".")[0] in ("research", "bench", "tools"):
                    offenders.append(f"{path.relative_to(root)} imports {name}")
    for path in sorted((root / "research").rglob("*.py")):
        for name in _imported_modules(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(root)} imports {name}")
    assert not offenders, "\n".join(offenders)
