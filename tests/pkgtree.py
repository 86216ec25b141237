"""A small package tree on disk for the filter tests: an application
package with a subpackage, a look-alike module, and a library under a
directory named site-packages."""

import importlib
import sys
import textwrap

import pytest

FILES = {
    "app/__init__.py": "",
    "app/helpers.py": """
        def double(n):
            return n * 2


        def inc(n):
            return n + 1
    """,
    "app/core.py": """
        from app import helpers


        def handle(n):
            return helpers.double(n) + helpers.inc(n)


        def handle_many(k):
            return [handle(i) for i in range(k)]


        class Service:
            def run(self, n):
                return handle(n)
    """,
    "app/sub/__init__.py": "",
    "app/sub/deep.py": """
        from app import helpers


        def walk(n):
            return helpers.inc(n) if n <= 0 else walk(n - 1)
    """,
    "app/main.py": """
        import appx
        import vendorlib
        from app import core, helpers
        from app.sub import deep


        def main():
            core.handle_many(3)
            core.Service().run(5)
            deep.walk(2)
            vendorlib.vend(helpers.double, 4)
            appx.other()
    """,
    "appx.py": """
        def other():
            return 1
    """,
    "site-packages/vendorlib/__init__.py": """
        def vend(f, n):
            return f(n)
    """,
}

MODULES = ("app", "appx", "vendorlib")

# What app.main.main() runs, call by call, with nothing filtered.
ALL_CALLS = {
    "app.main.main": 1,
    "app.core.handle_many": 1,
    "app.core.handle": 4,
    "app.core.Service.run": 1,
    "app.helpers.double": 5,
    "app.helpers.inc": 5,
    "app.sub.deep.walk": 3,
    "vendorlib.vend": 1,
    "appx.other": 1,
}


@pytest.fixture
def app(tmp_path, monkeypatch):
    """Write the tree, import it, and return the app.main module."""
    for rel, text in FILES.items():
        path = tmp_path / "tree" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path / "tree"))
    monkeypatch.syspath_prepend(str(tmp_path / "tree" / "site-packages"))
    importlib.invalidate_caches()
    yield importlib.import_module("app.main")
    for name in list(sys.modules):
        if name.partition(".")[0] in MODULES:
            del sys.modules[name]


def tree_counts(session):
    """{module.qualname: calls} of the tree's functions in a session."""
    return {s.full_name: s.calls for s in session.stats() if s.module.partition(".")[0] in MODULES}
