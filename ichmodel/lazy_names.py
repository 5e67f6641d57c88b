"""Package names imported on first use (PEP 562), so importing a package for its types does
not pull in scipy, torch or SimpleITK behind it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_getattr(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``name`` from ``modules[name]`` when first used."""

    def __getattr__(name: str) -> object:  # noqa: N807 (the PEP 562 hook's name)
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    return __getattr__
