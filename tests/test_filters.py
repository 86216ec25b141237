"""Static filters (include/exclude, Q, stdlib/site_packages) on a real
package tree, and the errors bad filters raise."""

import json
import re
import sys
import warnings

import pytest
from pkgtree import ALL_CALLS, app, tree_counts  # noqa: F401 (fixture)

import monitrace
from monitrace import Q
from monitrace.filters import CompiledFilter, Facts, spec_to_q
from monitrace.places import is_generated


def run(app, **options):  # noqa: F811
    with monitrace.trace(**options) as s:
        app.main()
    return tree_counts(s)


def only(*names):
    return {n: ALL_CALLS[n] for n in names}


def test_no_filter_traces_the_whole_tree(app):  # noqa: F811
    assert run(app) == ALL_CALLS


def test_include_a_package_takes_its_submodules_not_lookalikes(app):  # noqa: F811
    got = run(app, include="app")
    assert got == {k: v for k, v in ALL_CALLS.items() if k.startswith("app.")}
    assert "appx.other" not in got


def test_include_glob_takes_submodules_only(app):  # noqa: F811
    assert run(app, include="app.sub.*") == only("app.sub.deep.walk")
    assert run(app, include=["app.helpers", "appx"]) == only(
        "app.helpers.double", "app.helpers.inc", "appx.other"
    )


def test_include_full_name_of_a_class_takes_its_methods(app):  # noqa: F811
    assert run(app, include="app.core.Service") == only("app.core.Service.run")
    assert run(app, include="app.core.handle") == only("app.core.handle")


def test_exclude_wins_over_include(app):  # noqa: F811
    got = run(app, include="app", exclude=["app.helpers", "app.sub"])
    assert got == only(
        "app.main.main", "app.core.handle_many", "app.core.handle", "app.core.Service.run"
    )


def test_function_and_qualname_globs_and_regex(app):  # noqa: F811
    assert run(app, include="function:handle*") == only("app.core.handle", "app.core.handle_many")
    assert run(app, include="qualname:Service.*") == only("app.core.Service.run")
    assert run(app, include="function:re:^(inc|walk)$") == only(
        "app.helpers.inc", "app.sub.deep.walk"
    )
    assert run(app, exclude="fullname:re:\\.(double|inc)$", include="app") == {
        k: v for k, v in ALL_CALLS.items() if k.startswith("app.") and "helpers" not in k
    }


def test_file_globs(app):  # noqa: F811
    assert run(app, include="app/sub/*.py") == only("app.sub.deep.walk")
    assert run(app, include="file:*/app/helpers.py") == only(
        "app.helpers.double", "app.helpers.inc"
    )
    assert run(app, exclude="*/app/*") == only("vendorlib.vend", "appx.other")


def test_site_packages_switch(app):  # noqa: F811
    got = run(app, site_packages=False)
    assert got == {k: v for k, v in ALL_CALLS.items() if k != "vendorlib.vend"}


def test_stdlib_switch():
    def encode():
        return json.dumps({"a": [1, 2]})

    with monitrace.trace() as s:
        encode()
    assert s.calls("json.dumps") == 1
    with monitrace.trace(stdlib=False) as s:
        encode()
    assert s.calls("json.dumps") == 0
    assert not [r for r in s.stats() if r.module.startswith("json")]
    assert s.calls("test_filters.test_stdlib_switch.<locals>.encode") == 1


def test_c_functions_stay_with_stdlib_and_site_packages_off():
    import cProfile
    import math
    import posixpath
    import pstats

    def use():
        total = 0
        for word in ["a", 2, "ccc"]:
            total += isinstance(word, str)
        posixpath.join("a", "b")  # stdlib Python code, which calls isinstance too
        return math.sqrt(total)

    use()
    prof = cProfile.Profile()
    prof.runcall(use)
    stats = pstats.Stats(prof).stats
    (isinstance_key,) = [k for k in stats if k[2] == "<built-in method builtins.isinstance>"]
    (use_key,) = [k for k in stats if k[2] == "use"]
    every = stats[isinstance_key][1]
    from_use = stats[isinstance_key][4][use_key][0]
    assert from_use == 3 < every
    for switches in (
        {"stdlib": False},
        {"site_packages": False},
        {"stdlib": False, "site_packages": False},
    ):
        with monitrace.trace(c_calls=True, **switches) as s:
            use()
        # the C functions `use` calls are there; those called inside the
        # left-out posixpath code are not seen at all
        assert s.calls(isinstance) == (from_use if "stdlib" in switches else every), switches
        assert s.calls(math.sqrt) == 1
        assert s.calls(posixpath.join) == (0 if "stdlib" in switches else 1)
    # a spec that names a C function still leaves it out
    with monitrace.trace(c_calls=True, stdlib=False, exclude="function:sqrt") as s:
        use()
    assert (s.calls(isinstance), s.calls(math.sqrt)) == (3, 0)
    with monitrace.trace(c_calls=True, stdlib=False, exclude=Q(kind="c") & Q(stdlib=True)) as s:
        use()
    assert [r.kind for r in s.stats()] == ["python"]


def generated_rows(session):
    """{qualname: calls} of the records of code compiled from strings
    (summed over the functions of one qualname)."""
    rows: dict[str, int] = {}
    for r in session.stats():
        if r.kind == "python" and is_generated(r.filename):
            rows[r.qualname] = rows.get(r.qualname, 0) + r.calls
    return rows


VENDOR_DATACLASSES = """
import collections
import dataclasses

Pair = collections.namedtuple("Pair", "a b")

@dataclasses.dataclass
class Item:
    a: int
    b: int = 0

def make(n):
    return [Item(i) for i in range(n)] + [Pair(1, 2)]

def build():
    @dataclasses.dataclass
    class Local:
        x: int
    return Local(1)
"""


def test_generated_code_is_classified_by_its_generator(app, tmp_path):  # noqa: F811
    import collections
    import dataclasses

    site = tmp_path / "tree" / "site-packages"
    (site / "vendordc.py").write_text(VENDOR_DATACLASSES)
    import vendordc

    Point = collections.namedtuple("Point", "x y")

    @dataclasses.dataclass
    class Mine:
        v: int

    def use():
        vendordc.make(3)
        vendordc.build()
        return [Point(1, 2), Point(3, 4), Mine(1)]

    try:
        with monitrace.trace() as s:
            use()
        everything = generated_rows(s)
        # namedtuple __new__ (Point 2, Pair 1), dataclass __init__ (Item 3,
        # Local 1, Mine 1), and the __create_fn__ that made Local's methods
        assert everything["<lambda>"] == 3
        assert everything["__create_fn__.<locals>.__init__"] == 5
        assert everything["__create_fn__"] >= 1
        # stdlib=False: namedtuples' __new__ (collections made it) is out;
        # dataclass methods belong to the class's module
        with monitrace.trace(stdlib=False) as s:
            use()
        assert "<lambda>" not in generated_rows(s)
        assert generated_rows(s)["__create_fn__.<locals>.__init__"] == 5
        # site_packages=False: the installed module's dataclass code is out
        # (Item, Local and the __create_fn__ that made Local); Mine is mine
        with monitrace.trace(site_packages=False) as s:
            use()
        assert generated_rows(s) == {"<lambda>": 3, "__create_fn__.<locals>.__init__": 1}
        with monitrace.trace(stdlib=False, site_packages=False) as s:
            use()
        assert generated_rows(s) == {"__create_fn__.<locals>.__init__": 1}
        assert s.calls(Mine.__init__) == 1
    finally:
        del sys.modules["vendordc"]


def test_generated_code_facts(tmp_path, monkeypatch):
    # older attrs compile methods into files named "<attrs generated ...>",
    # in globals that name no module: they belong to attrs (here a stand-in
    # installed under a site-packages directory); newer ones run them in
    # the class's module, like dataclasses
    site = tmp_path / "site-packages"
    (site / "attr").mkdir(parents=True)
    (site / "attr" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "attr", raising=False)
    import attr  # noqa: F401

    f = CompiledFilter(site_packages=False, stdlib=False)

    def code(filename):
        return compile("def g(): pass", filename, "exec").co_consts[0]

    attrs_facts = f.facts(code("<attrs generated methods app.C>"), None)
    assert (attrs_facts.stdlib, attrs_facts.site_packages) == (False, True)
    assert f(code("<attrs generated methods app.C>"), None) == 0
    assert f(code("<attrs generated methods app.C>"), "app") == 1
    assert f(code("<attrs generated methods app.C>"), "json") == 0
    nt = f.facts(code("<string>"), "namedtuple_Point")
    assert (nt.stdlib, nt.site_packages, nt.module) == (True, False, "namedtuple_Point")
    assert f(code("<string>"), "namedtuple_Point") == 0
    # by the module its globals name; unknown modules are the user's
    assert (f.facts(code("<string>"), "json.decoder").stdlib) is True
    assert f(code("<string>"), "json.decoder") == 0
    assert f(code("<string>"), "no_such_module") == 1
    assert f(code("<doctest mine.f[0]>"), "mine") == 1
    assert f(code("<frozen posixpath>"), "posixpath") == 0


@pytest.mark.filterwarnings("ignore::monitrace.UnmatchedSpecWarning")  # Q(module__eq="app")
def test_q_composition(app):  # noqa: F811
    q = Q(module="app.helpers") | Q(function="walk")
    assert run(app, include=q) == only("app.helpers.double", "app.helpers.inc", "app.sub.deep.walk")
    q = Q(module="app") & ~Q(module__startswith="app.core")
    assert run(app, include=q) == only(
        "app.main.main", "app.helpers.double", "app.helpers.inc", "app.sub.deep.walk"
    )
    q = Q(qualname__in={"handle", "other"}, kind="python")
    assert run(app, include=q) == only("app.core.handle", "appx.other")
    assert run(app, include=Q(site_packages=True)) == only("vendorlib.vend")
    assert run(app, include=Q(module__eq="app")) == {}


@pytest.mark.filterwarnings("ignore::monitrace.UnmatchedSpecWarning")
def test_c_functions_are_filtered_too():
    def use():
        return len([1]) + abs(-1)

    with monitrace.trace(c_calls=True, exclude="function:len") as s:
        use()
    names = {r.qualname for r in s.stats()}
    assert "abs" in names and "len" not in names
    # C functions are seen at call sites in traced code only: `use` must be
    # traced for its calls to abs() to be seen.
    q = (Q(kind="c") & Q(function="abs")) | Q(function="use")
    with monitrace.trace(c_calls=True, include=q) as s:
        use()
    assert sorted(r.name for r in s.stats()) == ["<built-in method builtins.abs>", "use"]
    with monitrace.trace(c_calls=True, include=Q(kind="c")) as s:
        use()
    assert s.stats() == []


def facts(**kw):
    base = dict(
        module="m",
        function="f",
        qualname="C.f",
        fullname="m.C.f",
        filename="/src/m.py",
        kind="python",
        stdlib=False,
        site_packages=False,
    )
    base.update(kw)
    return Facts(**base)


@pytest.mark.parametrize(
    "q, yes, no",
    [
        (Q(module="pkg"), "pkg", "pkgx"),
        (Q(module="pkg"), "pkg.sub", "other.pkg"),
        (Q(module="pkg.*"), "pkg.a.b", "pkg"),
        (Q(module__eq="pkg"), "pkg", "pkg.sub"),
        (Q(module__regex="^p.g$"), "pkg", "pkg.x"),
        (Q(module__startswith=("a", "pk")), "pkg", "x"),
        (Q(module__in=["pkg", "x"]), "x", "pkg.sub"),
        (Q(module="p?g"), "pkg", "pkkg"),
    ],
)
def test_q_operators_on_module(q, yes, no):
    assert q.matches(facts(module=yes))
    assert not q.matches(facts(module=no))


def test_q_filename_relative_glob_matches_the_end_of_the_path():
    q = Q(filename="m.py")
    assert q.matches(facts(filename="/src/m.py"))
    assert not q.matches(facts(filename="/src/xm.py"))
    assert Q(filename="/src/*").matches(facts(filename="/src/deep/m.py"))


def test_q_repr_shows_the_tree():
    q = (Q(module="a") | Q(function="b")) & ~Q(stdlib=True)
    assert repr(q) == "((Q(module='a') | Q(function='b')) & ~Q(stdlib=True))"


def test_spec_strings():
    f = facts(
        module="pkg.mod",
        qualname="Handler.get",
        fullname="pkg.mod.Handler.get",
        function="get",
        filename="/src/pkg/mod.py",
    )
    for spec in (
        "pkg",
        "pkg.*",
        "pkg.mod.Handler",
        "module:pkg.mod",
        "function:g?t",
        "qualname:Handler.*",
        "file:*/pkg/*",
        "pkg/mod.py",
        "re:^pkg\\.m",
        "function:re:^get$",
        "fullname:pkg.mod.Handler.get",
    ):
        assert spec_to_q(spec, "include").matches(f), spec
    for spec in ("pk", "pkg.mod.Other", "function:post", "file:*/other/*", "xmod.py"):
        assert not spec_to_q(spec, "include").matches(f), spec


@pytest.mark.filterwarnings("ignore::monitrace.UnmatchedSpecWarning")
def test_own_code_is_never_traced_even_when_included():
    with monitrace.trace(include="monitrace") as s:
        s.options  # a property in monitrace.api
    assert s.stats() == []


def test_compiled_filter_verdict_bits():
    f = CompiledFilter(within="fullname:m.w", exclude_within="fullname:m.e", include="other")

    def code(name):
        return compile(f"def {name}(): pass", "/src/m.py", "exec").co_consts[0]

    assert f(code("w"), "m") == 1 | 2
    assert f(code("e"), "m") == 1 | 4
    assert f(code("x"), "m") == 0
    assert f(code("x"), "other") == 1


# ---- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        ({"include": 42}, TypeError, r"include must be a str, a monitrace.Q or a list"),
        ({"exclude": [None]}, TypeError, r"exclude: expected a str or a monitrace.Q"),
        (
            {"include": "function:re:("},
            ValueError,
            r"include: Q\(function__regex=...\): invalid regular expression '\('",
        ),
        ({"within": ""}, ValueError, r"within: empty pattern"),
        ({"exclude_within": "module:"}, ValueError, r"exclude_within: empty pattern"),
        (
            {"include": "funtion:main"},
            ValueError,
            r"include: unknown field 'funtion' in 'funtion:main' \(did you mean 'function'\?\); "
            r"a spec is \[field:\]\[re:\]pattern with field one of module, function",
        ),
        ({"exclude": ["app", "bogus:foo"]}, ValueError, r"exclude: unknown field 'bogus'"),
        ({"within": "Module:app"}, ValueError, r"within: unknown field 'Module' .*'module'"),
        (
            {"exclude_within": "re:x:y", "include": "fule:a.py"},
            ValueError,
            r"include: unknown field 'fule' .*did you mean 'file'",
        ),
        ({"stdlib": "no"}, TypeError, r"stdlib must be True or False"),
        ({"site_packages": None}, TypeError, r"site_packages must be True or False"),
        ({"max_depth": -1}, ValueError, r"max_depth must be 1 or more"),
        ({"max_depth": 0}, ValueError, r"max_depth must be 1 or more"),
        ({"max_depth": "3"}, TypeError, r"max_depth must be an int or None"),
        ({"threads": 1.5}, TypeError, r"threads must be a thread name, an ident"),
        ({"threads": [True]}, TypeError, r"threads: expected a thread name or ident"),
        ({"threads": []}, ValueError, r"threads must name at least one thread"),
        ({"threads": [-3]}, ValueError, r"threads: a thread ident is not negative"),
        ({"min_duration": -0.5}, ValueError, r"min_duration must be 0 or more seconds"),
        ({"min_duration": "1ms"}, TypeError, r"min_duration must be a number of seconds"),
    ],
)
def test_bad_filter_options_raise_naming_the_option(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        monitrace.trace(**kwargs)
    assert sys.monitoring.get_tool(3) is None


@pytest.mark.parametrize(
    "build, exc, pattern",
    [
        (
            lambda: Q(modul="x"),
            TypeError,
            r"unknown Q field 'modul'; fields: module, function, qualname",
        ),
        (
            lambda: Q(module__like="x"),
            TypeError,
            r"unknown Q operator 'like' in 'module__like'; operators: eq, glob, regex",
        ),
        (
            lambda: Q(module__regex="[a"),
            ValueError,
            r"Q\(module__regex=...\): invalid regular expression '\[a'",
        ),
        (lambda: Q(module__in="abc"), TypeError, r"takes a collection of str"),
        (lambda: Q(module__startswith=3), TypeError, r"takes a str or a tuple of str"),
        (lambda: Q(module=3), TypeError, r"Q\(module=...\) takes a str, not int"),
        (lambda: Q(stdlib="yes"), TypeError, r"Q\(stdlib=...\) must be True or False"),
        (lambda: Q(stdlib__glob=True), TypeError, r"bool field and takes only eq"),
        (lambda: Q(kind="java"), ValueError, r"kind is 'python' or 'c'"),
        (lambda: Q(), TypeError, r"Q\(\) needs at least one condition"),
        (lambda: Q(module="a") & "b", TypeError, r"unsupported operand"),
    ],
)
def test_bad_q_raises_clearly(build, exc, pattern):
    with pytest.raises(exc, match=pattern):
        build()


def test_specs_with_colons_that_are_not_fields():
    # re: alone, a regex with colons, a file glob with colons, a dotted head
    for spec in ("re:^a:b$", "file:*/x:y/*.py", "pkg.mod:thing", "*:x", "9x:y"):
        spec_to_q(spec, "include")


def test_unmatched_include_and_within_specs_are_said_once_at_stop(app):  # noqa: F811
    s = monitrace.trace(
        include=["app.helpers", "nosuch", Q(module="nomod")], within=["app.main.main", "main"]
    )
    with pytest.warns(monitrace.UnmatchedSpecWarning) as caught:
        with s:
            app.main()
    assert [str(w.message) for w in caught] == [
        "monitrace: include spec 'nosuch' matched no function (a bare name means a module "
        "or a full name module.qualname; for a function named so use 'function:nosuch')",
        "monitrace: include spec Q(module='nomod') matched no function",
        "monitrace: within spec 'main' matched no function (a bare name means a module or "
        "a full name module.qualname; for a function named so use 'function:main')",
    ]
    assert caught[0].filename == __file__  # the line that stopped the session
    assert tree_counts(s) == only("app.main.main", "app.helpers.double", "app.helpers.inc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with s:  # said once per session
            app.main()
        with monitrace.trace(include="app", within="function:main"):  # all matched
            app.main()
        with monitrace.trace(exclude="nosuch"):  # exclude specs are not checked
            app.main()
    assert s.unmatched_specs({"include": "--include"})[0].startswith(
        "monitrace: --include spec 'nosuch' matched no function"
    )


def test_errors_name_the_option_for_each_spec_option():
    for option in ("include", "exclude", "within", "exclude_within"):
        with pytest.raises(ValueError, match=re.escape(f"{option}: Q(module__regex=...)")):
            monitrace.trace(**{option: ["ok", "module:re:*bad"]})
