"""Dynamic filters: max_depth, within, exclude_within, threads and
min_duration, on a real package tree and on tricky control flow."""

import threading

import pytest
from pkgtree import ALL_CALLS, app, tree_counts  # noqa: F401 (fixture)

import monitrace


def run(app, **options):  # noqa: F811
    with monitrace.trace(**options) as s:
        app.main()
    return tree_counts(s)


def test_max_depth_counts_from_where_tracing_started(app):  # noqa: F811
    assert run(app, max_depth=1) == {"app.main.main": 1}
    assert run(app, max_depth=2) == {
        "app.main.main": 1,
        "app.core.handle_many": 1,
        "app.core.Service.run": 1,
        "app.sub.deep.walk": 1,
        "vendorlib.vend": 1,
        "appx.other": 1,
    }
    assert run(app, max_depth=3) == {
        "app.main.main": 1,
        "app.core.handle_many": 1,
        "app.core.handle": 4,
        "app.core.Service.run": 1,
        "app.sub.deep.walk": 2,
        "app.helpers.double": 1,
        "vendorlib.vend": 1,
        "appx.other": 1,
    }
    assert run(app, max_depth=50) == ALL_CALLS


def test_max_depth_starts_below_the_tracing_frame(app):  # noqa: F811
    def nested():
        with monitrace.trace(max_depth=1) as s:
            app.main()
        return tree_counts(s)

    # Tracing started two frames deeper; depth is still 1 for main().
    assert nested() == {"app.main.main": 1}


def test_excluded_code_is_transparent_for_depth(app):  # noqa: F811
    got = run(app, max_depth=2, exclude="app.main")
    assert got == {
        "app.core.handle_many": 1,
        "app.core.handle": 4,
        "app.core.Service.run": 1,
        "app.sub.deep.walk": 2,
        "vendorlib.vend": 1,
        "app.helpers.double": 1,
        "appx.other": 1,
    }


def test_within_records_only_inside_the_target(app):  # noqa: F811
    assert run(app, within="app.core.handle") == {
        "app.core.handle": 4,
        "app.helpers.double": 4,
        "app.helpers.inc": 4,
    }
    assert run(app, within="function:walk") == {
        "app.sub.deep.walk": 3,
        "app.helpers.inc": 1,
    }


def test_within_target_is_recorded_even_if_include_leaves_it_out(app):  # noqa: F811
    got = run(app, within="app.core.Service.run", include="app.helpers")
    assert got == {"app.core.Service.run": 1, "app.helpers.double": 1, "app.helpers.inc": 1}


def test_within_and_max_depth_count_from_the_target(app):  # noqa: F811
    assert run(app, within="app.core.handle_many", max_depth=2) == {
        "app.core.handle_many": 1,
        "app.core.handle": 3,
    }


def test_exclude_within_leaves_the_subtree_out(app):  # noqa: F811
    got = run(app, exclude_within="app.core.Service.run")
    expected = dict(ALL_CALLS)
    del expected["app.core.Service.run"]
    expected["app.core.handle"] -= 1
    expected["app.helpers.double"] -= 1
    expected["app.helpers.inc"] -= 1
    assert got == expected


def test_exclude_within_wins_over_within(app):  # noqa: F811
    got = run(app, within="app.core.handle_many", exclude_within="app.helpers.double")
    assert got == {"app.core.handle_many": 1, "app.core.handle": 3, "app.helpers.inc": 3}


# ---- control flow through left-out activations ------------------------------


def raiser(depth):
    if depth == 0:
        raise KeyError(depth)
    return raiser(depth - 1)


def catcher():
    try:
        raiser(3)
    except KeyError:
        return leaf()


def leaf():
    return 1


def gen(n):
    for i in range(n):
        yield leaf() + i


def consume():
    return sum(gen(4))


def thrower():
    g = gen(3)
    next(g)
    try:
        g.throw(ValueError("x"))
    except ValueError:
        pass
    return leaf()


def names(session):
    return {s.qualname: s.calls for s in session.stats() if s.module == __name__}


def test_exceptions_unwind_left_out_frames():
    with monitrace.trace(max_depth=1) as s:
        catcher()
        leaf()
    # raiser x4 and the leaf inside catcher are below depth 1; the hidden
    # stack empties on the way out, so the later leaf() counts.
    assert names(s) == {"catcher": 1, "leaf": 1}
    with monitrace.trace(exclude_within="function:raiser") as s:
        catcher()
        leaf()
    assert names(s) == {"catcher": 1, "leaf": 2}


def test_generators_suspend_and_resume_inside_left_out_code():
    with monitrace.trace(max_depth=1) as s:
        consume()
        leaf()
    assert names(s) == {"consume": 1, "leaf": 1}
    with monitrace.trace(within="function:gen") as s:
        consume()
        leaf()
    assert names(s) == {"gen": 1, "leaf": 4}
    with monitrace.trace(exclude_within="function:gen") as s:
        thrower()
        consume()
    assert names(s) == {"thrower": 1, "consume": 1, "leaf": 1}


def test_recursion_below_max_depth():
    with monitrace.trace(max_depth=2) as s:
        try:
            raiser(5)
        except KeyError:
            pass
        leaf()
    got = [r for r in s.stats() if r.qualname == "raiser"]
    assert (got[0].calls, got[0].primitive_calls) == (2, 1)
    assert names(s)["leaf"] == 1


# ---- threads -------------------------------------------------------------------


def in_threads(*names_, **options):
    with monitrace.trace(**options) as s:
        threads = [threading.Thread(target=consume, name=n) for n in names_]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        consume()
    return {
        (r.thread_name, r.qualname): r.calls
        for r in s.stats(by_thread=True)
        if r.module == __name__
    }


def test_threads_by_name_glob():
    got = in_threads("worker-1", "worker-2", "other", threads="worker-*")
    assert got == {
        ("worker-1", "consume"): 1,
        ("worker-1", "gen"): 1,
        ("worker-1", "leaf"): 4,
        ("worker-2", "consume"): 1,
        ("worker-2", "gen"): 1,
        ("worker-2", "leaf"): 4,
    }


def test_threads_by_ident_and_name():
    main = threading.get_ident()
    got = in_threads("w", "x", threads=[main, "x"])
    assert {t for t, _ in got} == {"MainThread", "x"}
    assert got[("MainThread", "leaf")] == 4 and got[("x", "leaf")] == 4


# ---- min_duration ---------------------------------------------------------------


def test_min_duration_never_drops_calls_from_stats():
    with monitrace.trace(min_duration=10.0) as s:
        consume()
    assert names(s) == {"consume": 1, "gen": 1, "leaf": 4}
    assert s.options.min_duration == 10.0
    assert s._tracer.scope is None  # applied when events are read, not in C


def test_no_dynamic_filter_means_no_scope():
    assert monitrace.trace()._tracer.scope is None
    assert monitrace.trace(include="x", stdlib=False)._tracer.scope is None
    scope = monitrace.trace(max_depth=3, within="f", threads="t")._tracer.scope
    assert scope["max_depth"] == 3 and scope["within"] is True
    assert scope["exclude_within"] is False and callable(scope["thread_filter"])


def test_set_scope_validates_and_refuses_while_running():
    from monitrace import _core

    tr = _core.Tracer()
    with pytest.raises(ValueError, match="max_depth must be 0"):
        tr.set_scope(max_depth=-1)
    with pytest.raises(TypeError, match="thread_filter must be a callable"):
        tr.set_scope(thread_filter=3)
    tr.start()
    try:
        with pytest.raises(RuntimeError, match="stop the tracer before set_scope"):
            tr.set_scope(max_depth=1)
    finally:
        tr.stop()
