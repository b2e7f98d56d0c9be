"""Typer's rich help without the parts of rich it never uses here.

`typer.rich_utils`, which draws `--help` and usage errors, imports `rich.markdown` (with
markdown_it, ~45 ms) and `rich.traceback` (~8 ms) at module level, but uses them only for
`rich_markup_mode="markdown"` and for pretty tracebacks, neither of which mlchat turns on. While
`typer.rich_utils` is being imported, `install()` puts stand-ins for those two modules in
`sys.modules`; each stand-in class imports the real one the first time it is used, so behaviour
is unchanged, and the stand-in modules are removed again as soon as the import ends, so any later
`import rich.markdown` (the renderer's) gets the real module.

It fails safe: any exception while `typer.rich_utils` runs with the stand-ins (a Typer that
imports another name from those modules, subclasses one of the classes, or uses them in any way
the stand-ins do not forward) puts the real modules in place and runs it again, the ordinary way;
afterwards only the two names must still be stand-ins, or the module is run again the ordinary
way too. tests/test_startup_imports.py proves each fallback. Only help and usage errors import
`typer.rich_utils`; a help drawn before is replayed without it (see mlchat/helpcache.py).

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

        def __subclasscheck__(cls, sub: Any) -> bool:
            return issubclass(sub, _real(module, name))

    def refuse(cls: type, /, **kwargs: Any) -> None:
        # A subclass of a stand-in would not be a subclass of the real class: fall back.
        raise TypeError(f"{module}.{name} is a stand-in and cannot be subclassed")

    namespace = {
        "__module__": module,
        "__qualname__": name,
        "__init_subclass__": classmethod(refuse),
    }
    return Deferred(name, (), namespace)


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
            if not _only_expected(module, stand_ins):
                raise ImportError("the stand-ins escaped into other names")
        except Exception:
            # A Typer that wants more from these modules than the stand-ins offer: import it
            # the ordinary way (slower, never broken).
            _remove(stand_ins)
            for name in DEFERRED:
                importlib.import_module(name)
            self._loader.exec_module(module)
        finally:
            _remove(stand_ins)


def _only_expected(module: types.ModuleType, stand_ins: dict[str, types.ModuleType]) -> bool:
    """Whether the stand-ins are bound in `module` under the expected names only."""
    expected = {
        id(getattr(stub, attr)): attr
        for stub in stand_ins.values()
        for attr in DEFERRED[stub.__name__]
    }
    stubs = {id(stub) for stub in stand_ins.values()}
    for key, value in vars(module).items():
        if id(value) in stubs:
            return False  # the stand-in module itself (`import rich.markdown`)
        if id(value) in expected and expected[id(value)] != key:
            return False
    return True


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
