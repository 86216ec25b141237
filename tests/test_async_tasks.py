"""asyncio tasks: tree(by_task=True), --by-task, and coroutine activations
as Perfetto async slices in Chrome traces.

Structure is asserted exactly (which task ran which calls, how many);
times only by inequalities that hold for any clock."""

import asyncio
import gc
import json
import re
import subprocess
import sys
import weakref

import pytest

import monitrace

ONLY_HERE = [__name__]


def parse(n):
    return n * 2


async def leaf(n):
    await asyncio.sleep(0)
    return parse(n)


async def fetch(n):
    return await leaf(n) + await leaf(n)


async def scenario():
    named = asyncio.create_task(fetch(1), name="fetch-1")
    got = await asyncio.gather(fetch(2), named)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(fetch(3), name="tg-3")
    return got


_LINE = re.compile(
    r"^(?P<indent> *)(?P<name>\S+)(?: \((?P<where>[^)]*)\))?  "
    r"(?P<calls>\d+) calls?(?P<wall>, \S+ wall)?, \S+ on CPU$"
)


def shape(text):
    """The tree's text without times: task headings as ("task", name),
    calls as (depth, name, calls, has wall)."""
    out = []
    for line in text.splitlines():
        if line.startswith("task ") or line == "outside any task":
            out.append(("task", line))
            continue
        m = _LINE.match(line)
        assert m, line
        out.append((len(m["indent"]) // 4, m["name"], int(m["calls"]), bool(m["wall"])))
    return out


FETCH = [(1, "fetch", 1, True), (2, "leaf", 2, True), (3, "parse", 2, False)]


def test_tree_by_task_names_tasks_and_groups_their_calls():
    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        assert asyncio.run(scenario()) == [8, 4]
    got = shape(s.tree(by_task=True))
    # The runner's task is named by asyncio (Task-N), as is the task gather
    # makes for the coroutine it is given.
    assert got[0][0] == "task" and re.fullmatch(r"task 'Task-\d+'", got[0][1])
    assert got[1:2] == [(1, "scenario", 1, True)]
    assert got[2:6] == [("task", "task 'fetch-1'")] + FETCH
    assert got[6][0] == "task" and re.fullmatch(r"task 'Task-\d+'", got[6][1])
    assert got[7:10] == FETCH
    assert got[10:] == [("task", "task 'tg-3'")] + FETCH
    # print_tree writes the same text.
    import io

    out = io.StringIO()
    s.print_tree(out, by_task=True)
    assert shape(out.getvalue()) == got


def test_tree_by_task_matches_the_stats():
    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        asyncio.run(scenario())
    stats = {x.name: x for x in s.stats()}
    assert (stats["fetch"].calls, stats["leaf"].calls, stats["parse"].calls) == (3, 6, 6)
    text = s.tree(by_task=True)
    assert (
        sum(c for d, name, c, _ in (x for x in shape(text) if x[0] != "task") if name == "leaf")
        == 6
    )


async def outer_task():
    # Nested awaits several levels deep, then a task started from inside.
    inner = asyncio.create_task(fetch(5), name="inner")
    return await fetch(4) + await inner


def test_nested_awaits_stay_in_the_awaiting_task():
    with monitrace.trace(record=True, include=ONLY_HERE) as s:

        async def main():
            return await asyncio.create_task(outer_task(), name="outer")

        assert asyncio.run(main()) == 8 + 8 + 10 + 10
    got = shape(s.tree(by_task=True))
    i = got.index(("task", "task 'outer'"))
    assert got[i + 1 : i + 5] == [(1, "outer_task", 1, True)] + [
        (d + 1, n, c, w) for d, n, c, w in FETCH
    ]
    j = got.index(("task", "task 'inner'"))
    assert got[j + 1 : j + 4] == FETCH


def test_manual_coroutine_is_outside_any_task():
    async def plain():
        return parse(3)

    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        coro = plain()
        with pytest.raises(StopIteration):
            coro.send(None)
    got = shape(s.tree(by_task=True))
    assert got == [
        ("task", "outside any task"),
        (1, "test_manual_coroutine_is_outside_any_task.plain", 1, True),
        (2, "parse", 1, False),
    ]


def test_tasks_are_not_kept_alive():
    refs = []

    async def short():
        return parse(1)

    async def main():
        t = asyncio.create_task(short(), name="short-lived")
        refs.append(weakref.ref(t))
        return await t

    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        asyncio.run(main())
    gc.collect()
    assert refs[0]() is None  # the tracer kept only the name
    assert "task 'short-lived'" in s.tree(by_task=True)


class _BadNameTask(asyncio.Task):
    def get_name(self):
        raise RuntimeError("no name for you")


def test_a_task_whose_get_name_raises_changes_nothing():
    async def child():
        return parse(2)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(lambda loop, coro, **kw: _BadNameTask(coro, loop=loop, **kw))
        return await asyncio.create_task(child())

    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        assert asyncio.run(main()) == 4
    got = shape(s.tree(by_task=True))
    # Unnamed, so not guessed: the child ran outside any task we know.
    i = got.index(("task", "outside any task"))
    assert (1, "test_a_task_whose_get_name_raises_changes_nothing.child", 1, True) in got[i:]
    assert s.errors == []


# ---- Chrome: async slices ---------------------------------------------------------


def _chrome(session, tmp_path):
    path = tmp_path / "trace.json"
    session.save(str(path), "chrome")
    return json.loads(path.read_text())["traceEvents"]


def _async_slices(events):
    """{id: [(name, begin ts, end ts, task)]} from the b/e events, checking
    that they nest on each id as Perfetto requires."""
    open_: dict = {}
    done: dict = {}
    for ev in sorted(
        (e for e in events if e.get("ph") in ("b", "e")), key=lambda e: (e["ts"], e["ph"] == "b")
    ):
        assert ev["cat"] == "coroutine"
        stack = open_.setdefault(ev["id"], [])
        if ev["ph"] == "b":
            stack.append(ev)
        else:
            begin = stack.pop()
            assert begin["name"] == ev["name"]  # LIFO on its track
            assert begin["ts"] <= ev["ts"]
            done.setdefault(ev["id"], []).append(
                (ev["name"], begin["ts"], ev["ts"], begin.get("args", {}).get("task"))
            )
    assert all(not s for s in open_.values())  # every slice ended
    return done


def test_chrome_coroutine_lives_are_async_slices_on_their_tasks_tracks(tmp_path):
    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        asyncio.run(scenario())
    events = _chrome(s, tmp_path)
    tracks = _async_slices(events)
    by_task = {}
    for slices in tracks.values():
        tasks = {t for *_, t in slices}
        assert len(tasks) == 1  # one task per async track
        (task,) = tasks
        assert task not in by_task  # and one track per task
        by_task[task] = sorted(name.rsplit(".", 1)[-1] for name, *_ in slices)
    assert by_task["fetch-1"] == ["fetch", "leaf", "leaf"]
    assert by_task["tg-3"] == ["fetch", "leaf", "leaf"]
    auto = [t for t in by_task if re.fullmatch(r"Task-\d+", t)]
    assert sorted(by_task[t] for t in auto) == [["fetch", "leaf", "leaf"], ["scenario"]]
    # Each slice starts where the activation's first B slice starts, and
    # spans all of its B/E stretches (the gaps between them are awaits).
    begins = [(e["name"], e["ts"]) for e in events if e.get("ph") == "B"]
    for slices in tracks.values():
        for name, b, _e, _task in slices:
            assert (name, b) in begins
    stretches = [e for e in events if e.get("ph") == "B" and e["name"].endswith(".fetch")]
    assert len(stretches) == 3 * 3  # start + two resumes each
    fetch_lives = [x for sl in tracks.values() for x in sl if x[0].endswith(".fetch")]
    assert len(fetch_lives) == 3
    for ev in stretches:
        assert any(b <= ev["ts"] <= e for _n, b, e, _t in fetch_lives)


def test_chrome_cancelled_and_failing_coroutines_end_their_slices(tmp_path):
    async def fails():
        await asyncio.sleep(0)
        raise ValueError("boom")

    async def waits_forever():
        await asyncio.Event().wait()

    async def main():
        bad = asyncio.create_task(fails(), name="fails")
        stuck = asyncio.create_task(waits_forever(), name="stuck")
        await asyncio.sleep(0)
        stuck.cancel()
        res = await asyncio.gather(bad, stuck, return_exceptions=True)
        return [type(r).__name__ for r in res]

    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        assert asyncio.run(main()) == ["ValueError", "CancelledError"]
    tracks = _async_slices(_chrome(s, tmp_path))
    names = {
        t: [n.rsplit(".", 1)[-1] for n, *_ in sl]
        for sl in tracks.values()
        for t in {x[3] for x in sl}
    }
    assert names["fails"] == ["fails"]
    assert names["stuck"] == ["waits_forever"]


def test_chrome_suspended_at_stop_ends_with_the_log(tmp_path):
    class Pause:
        def __await__(self):
            yield "paused"

    async def never():
        await Pause()

    coro = never()
    with monitrace.trace(record=True, include=ONLY_HERE) as s:
        assert coro.send(None) == "paused"  # suspended, for good
        parse(1)
    coro.close()
    events = _chrome(s, tmp_path)
    tracks = _async_slices(events)
    (slices,) = tracks.values()
    ((name, begin, end, task),) = slices
    assert name.endswith("never") and task is None
    # Ended with the log: at the last event, parse's return.
    (parse_end,) = [e for e in events if e.get("ph") == "E"][-1:]
    assert end == parse_end["ts"] > begin


# ---- the command line ---------------------------------------------------------------


def test_cli_by_task(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(
        "import asyncio\n"
        "async def work(n):\n"
        "    await asyncio.sleep(0)\n"
        "    return n\n"
        "async def main():\n"
        "    return await asyncio.gather(*(asyncio.create_task(work(i), name=f'w{i}')\n"
        "                                  for i in range(2)))\n"
        "print(asyncio.run(main()))\n"
    )
    out = tmp_path / "tree.txt"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitrace",
            "--by-task",
            "--include",
            "__main__",
            "-o",
            str(out),
            str(script),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "[0, 1]\n"  # the program's output is its own
    got = shape(out.read_text())
    assert got[0][0] == "task"
    assert got[1:3] == [(1, "main", 1, True), (2, "main.<genexpr>", 1, False)]
    assert got[3:] == [
        ("task", "task 'w0'"),
        (1, "work", 1, True),
        ("task", "task 'w1'"),
        (1, "work", 1, True),
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "monitrace", "--by-task", "--report", str(script)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--by-task" in bad.stderr
