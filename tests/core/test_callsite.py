"""Call-site lines found by peeking at interpreter frames (record mode
without args) must equal those found through frame objects (the path
args=True takes)."""

import asyncio
import sys
import sysconfig

import monitrace
import monitrace._core
import workloads


def _program():
    workloads.everything()
    workloads.consume_generator()
    asyncio.run(workloads.gather_many(3))
    workloads.run_threads([3, 4])


def _sites(**options):
    with monitrace.trace(record=True, **options) as s:
        _program()
    return [
        (e.thread_name, e.kind, e.function.qualname, e.line, e.caller_filename)
        for e in s.events()
        if e.kind in ("call", "resume", "throw") and e.function.filename == workloads.__file__
    ]


def test_frame_peek_layout_verified_at_import():
    # compat.h mirrors the interpreter frame of 3.12-3.15 (3.14 moved to
    # tagged stack refs); the import-time check must have confirmed it on
    # this interpreter, or record mode silently fell back to frame objects.
    if sys.version_info < (3, 16) and not sysconfig.get_config_var("Py_GIL_DISABLED"):
        assert monitrace._core.FRAME_PEEK == 1


def test_fast_call_sites_equal_frame_object_call_sites():
    fast = _sites(path=True)
    slow = _sites(path=True, args=True)
    assert fast == slow
    assert len(fast) > 100


def test_call_site_of_python_called_from_c_is_the_c_call_line():
    with monitrace.trace(record=True) as s:
        workloads.from_c()
    sorted_line = [
        n
        for n, text in enumerate(open(workloads.__file__), 1)
        if "sorted(range(20), key=keyfn)" in text
    ]
    keyfn_sites = {e.line for e in s.events() if e.kind == "call" and e.function.name == "keyfn"}
    max_line = sorted_line[0] + 2  # `c = max(range(9), key=keyfn)`
    assert keyfn_sites == {sorted_line[0], max_line}
