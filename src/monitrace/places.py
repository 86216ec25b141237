"""Where code lives: the standard library, site-packages, or the user's
own files (and, for generated code such as dataclasses' ``__init__``, the
module that generated it). The answer behind the ``stdlib`` and
``site_packages`` filters and the names' ``library`` flag."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

__all__ = ["Places", "generator_module", "is_generated"]


class Places:
    """stdlib / site-packages classification, cached per file name."""

    def __init__(self) -> None:
        import site
        import sysconfig

        paths = sysconfig.get_paths()
        stdlib = {paths.get("stdlib"), paths.get("platstdlib"), os.path.dirname(os.__file__)}
        sitedirs = {paths.get("purelib"), paths.get("platlib")}
        try:
            sitedirs.update(site.getsitepackages())
            sitedirs.add(site.getusersitepackages())
        except AttributeError:  # a virtualenv's old site module
            pass
        self._stdlib = _prefixes(stdlib)
        self._sitedirs = _prefixes(sitedirs)
        self._cache: dict[str, tuple[bool, bool]] = {}

    def of_file(self, filename: str) -> tuple[bool, bool]:
        """(stdlib, site_packages) for a code object's co_filename."""
        known = self._cache.get(filename)
        if known is None:
            known = self._cache[filename] = self._classify(filename)
        return known

    def _classify(self, filename: str) -> tuple[bool, bool]:
        if filename.startswith("<"):
            return filename.startswith("<frozen "), False
        path = os.path.abspath(filename)
        parts = path.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts or path.startswith(self._sitedirs):
            return False, True
        return path.startswith(self._stdlib), False

    def of_code(self, filename: str, module: str) -> tuple[bool, bool]:
        """(stdlib, site_packages) for a code object: by its file, or for
        generated code (compiled from a string: a namedtuple's __new__,
        a dataclass's __init__ and __create_fn__, attrs methods) by the
        module behind it (see generator_module)."""
        if not is_generated(filename):
            return self.of_file(filename)
        generator = generator_module(filename, module)
        return self.of_module(generator) if generator else (False, False)

    def of_module(self, module: str) -> tuple[bool, bool]:
        """(stdlib, site_packages) of a module, by name (a C function's
        module, the module behind generated code)."""
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names:
            return True, False
        mod = sys.modules.get(module) or sys.modules.get(top)
        filename = getattr(mod, "__file__", None)
        return self.of_file(filename) if isinstance(filename, str) else (False, False)


def is_generated(filename: str) -> bool:
    """Whether code was compiled from a string (``<string>``, ``<attrs
    generated ...>``, ``<doctest ...>``) rather than read from a file or
    frozen into the interpreter."""
    return filename.startswith("<") and not filename.startswith("<frozen ")


def generator_module(filename: str, module: str) -> str:
    """The module behind generated code: the module its globals name
    (dataclasses, and attrs 22 and later, run the methods they make in the
    globals of the class's module), except for generators whose namespaces
    name no module: collections.namedtuple calls each one
    ``namedtuple_<typename>``, and older attrs compile into files named
    ``<attrs generated ...>`` with bare globals. "" when nothing says."""
    if module:
        if module.startswith("namedtuple_") and module not in sys.modules:
            return "collections"
        return module
    if filename.startswith("<attrs generated "):
        return "attr"
    return ""


def _prefixes(dirs: Iterable[str | None]) -> tuple[str, ...]:
    out = set()
    for d in dirs:
        if d:
            for p in (os.path.abspath(d), os.path.realpath(d)):
                out.add(p.rstrip(os.sep) + os.sep)
    return tuple(sorted(out))
