"""Typer's rich help without the parts of rich it never uses here.

`typer.rich_utils`, which draws `--help` and usage errors, imports `rich.markdown` (with
markdown_it, ~45 ms) and `rich.traceback` (~8 ms) at module level, but uses them only for
`rich_markup_mode="markdown"` and for pretty tracebacks, neither of which mlchat turns on. While
`typer.rich_utils` is being imported, `install()` puts stand-ins for those two modules in
`sys.modules`; each stand-in class imports the real one the first time it is used, so behaviour
is unchanged, and the stand-in modules are removed again as soon as the import ends, so any later
`import rich.markdown` (the renderer's) gets the real module.

Imports: the standard library only.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from typing import Any

TARGET = "typer.rich_utils"
# module -> the names typer.rich_utils imports from it
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def _real(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _stand_in(module: str, name: str) -> type:
    """A class that forwards construction, attributes and isinstance to `module.name`."""

    class Deferred(type):
        def __call__(cls, *args: Any, **kwargs: Any) -> Any:
            return _real(module, name)(*args, **kwargs)

        def __getattr__(cls, attr: str) -> Any:
            return getattr(_real(module, name), attr)

        def __instancecheck__(cls, obj: Any) -> bool:
            return isinstance(obj, _real(module, name))

    return Deferred(name, (), {"__module__": module, "__qualname__": name})


class _Loader:
    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, attr: str) -> Any:  # get_source, get_filename... for tracebacks
        return getattr(self._loader, attr)

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        module: types.ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        stand_ins: dict[str, types.ModuleType] = {}
        for name, attrs in DEFERRED.items():
            if name not in sys.modules:
                stub = types.ModuleType(name)
                for attr in attrs:
                    setattr(stub, attr, _stand_in(name, attr))
                stand_ins[name] = sys.modules[name] = stub
        try:
            self._loader.exec_module(module)
        except ImportError:
            # A Typer that wants more from these modules than the stand-ins offer: import it
            # the ordinary way (slower, never broken).
            _remove(stand_ins)
            self._loader.exec_module(module)
        finally:
            _remove(stand_ins)


def _remove(stand_ins: dict[str, types.ModuleType]) -> None:
    for name, stub in stand_ins.items():
        if sys.modules.get(name) is stub:
            del sys.modules[name]


class _Finder:
    """Intercepts the one import of typer.rich_utils, then steps aside."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != TARGET:
            return None
        uninstall()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(fullname, path, target) if find else None
            if spec is not None and spec.loader is not None:
                spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
                return spec
        return None


_FINDER = _Finder()


def install() -> None:
    """Arm the interception (idempotent; a no-op once typer.rich_utils is imported)."""
    if TARGET not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
