"""The call tree of an asyncio program grouped by the task that ran each
call: ``Session.tree(by_task=True)``, ``monitrace --tree --by-task``.

The C log names the activation of every coroutine entry and, at the start
of a task's root coroutine, the task (``Tracer.log_activations``). The
rest is worked out here, from the stack: a coroutine started under
another coroutine (awaited by it) runs in that coroutine's task, and a
plain function or generator runs in the task of whatever called it.
Each task's calls form one tree, merged by path from the task's root
coroutine, like this::

    task 'fetch-1'
        fetch (app.py:9)  1 call, 12.0ms wall, 35.1us on CPU
            parse (app.py:3)  1 call, 20.2us on CPU

``wall`` (coroutines only) runs from an activation's start to its finish,
awaits included; ``on CPU`` adds up its stretches on the stack. Code no
task ran (the program around ``asyncio.run``, the event loop itself)
comes last, under ``outside any task``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from typing import Any

from .events import LogReader
from .exporters.timeline import Walker
from .model import Kind, NameTable
from .report import format_duration

#: Task keys: the index of a task in the log's task list, or one of these.
OUTSIDE = -1  # code no asyncio task ran
_INHERIT, _NONE = -1, -2  # log_activations' task values other than an index


@dataclasses.dataclass
class TaskNode:
    """One function at one path of a task's tree."""

    function: int  # record index
    calls: int = 0
    cpu_ns: int = 0
    wall_ns: int = 0
    coroutine: bool = False
    children: dict[int, TaskNode] = dataclasses.field(default_factory=dict)

    def child(self, function: int) -> TaskNode:
        found = self.children.get(function)
        if found is None:
            found = self.children[function] = TaskNode(function)
        return found


@dataclasses.dataclass
class TaskTree:
    """One task's calls: ``name`` (None for code outside any task), its
    ``id`` (id() of the Task while it lived) and the root of its tree
    (function -1)."""

    name: str | None
    id: int | None
    root: TaskNode


@dataclasses.dataclass
class _Frame:
    node: TaskNode
    task: int
    activation: int  # 0: none (not a coroutine, or its start was missed)


def build(tracer: Any) -> tuple[list[TaskTree], NameTable]:
    """The trees of every task the recorded events show, in the order
    the tasks started, then the tree of code outside any task; and the
    names of the functions they hold."""
    reader = LogReader(tracer)
    acts, tasks = tracer.log_activations()
    entry = {seq: (activation, task) for seq, activation, task in acts}
    trees: dict[int, TaskNode] = {}
    task_of: dict[int, int] = {}  # activation -> task key
    born: dict[int, tuple[TaskNode, int]] = {}  # activation -> (node, start)

    def root(task: int) -> TaskNode:
        found = trees.get(task)
        if found is None:
            found = trees[task] = TaskNode(-1)
        return found

    walker = Walker()
    for begin, _thread, act, stack in walker.steps(reader.events()):
        if begin:
            seq = walker.read - 1  # the event's number in the log
            below: _Frame | None = stack[-1].mark if stack else None
            task = below.task if below is not None else OUTSIDE
            activation, how = entry.get(seq, (0, _INHERIT))
            kind = act.begin.kind
            if activation:
                if kind == Kind.CALL and how >= 0:
                    task = how
                elif kind == Kind.CALL and how == _NONE:
                    task = OUTSIDE
                elif kind != Kind.CALL:
                    task = task_of.get(activation, task)
                task_of[activation] = task
            # The path from the task's first frame on this stack.
            parent = below.node if below is not None and below.task == task else root(task)
            node = parent.child(act.function)
            if activation:
                node.coroutine = True
            if act.is_call:
                node.calls += 1
                if activation:
                    born[activation] = (node, act.start_ns)
            act.mark = _Frame(node, task, activation)
            continue
        if walker.ending:
            continue  # still on its stack at the end: no time counted
        frame: _Frame = act.mark
        frame.node.cpu_ns += act.elapsed_ns
        # Finished unless it yielded (an activation ended by a lost exit
        # above it has finished).
        if frame.activation and (act.end is None or act.end.kind != Kind.YIELD):
            node_start = born.pop(frame.activation, None)
            if node_start is not None:
                node_start[0].wall_ns += max(0, act.end_ns - node_start[1])
    last_ns = max(0, *walker.last.values()) if walker.last else 0
    # Still on a stack or suspended at the end: up to the last event seen.
    for node, start in born.values():
        node.wall_ns += max(0, last_ns - start)
    out = [
        TaskTree(name=str(tasks[key][0]), id=int(tasks[key][1]), root=trees[key])
        for key in sorted(k for k in trees if k != OUTSIDE)
    ]
    if OUTSIDE in trees:
        out.append(TaskTree(name=None, id=None, root=trees[OUTSIDE]))
    return out, NameTable(reader.all_records())


def render(trees: list[TaskTree], names: NameTable, hidden: Collection[Any] = ()) -> str:
    """The text of :func:`build`'s trees (see the module's docstring)."""
    lines: list[str] = []
    seen: dict[str, int] = {}
    for tree in trees:
        body: list[str] = []
        _lines(tree.root, names, 1, body, hidden)
        if tree.name is None:
            if body:  # only hidden code (the tracer's own) ran outside tasks
                lines.append("outside any task")
        else:
            seen[tree.name] = seen.get(tree.name, 0) + 1
            again = f" #{seen[tree.name]}" if seen[tree.name] > 1 else ""
            lines.append(f"task {tree.name!r}{again}")
        lines.extend(body)
    return "".join(line + "\n" for line in lines)


def _lines(
    node: TaskNode, names: NameTable, depth: int, out: list[str], hidden: Collection[Any]
) -> None:
    for child in node.children.values():
        key = names.key(child.function)
        try:
            skip = key in hidden
        except TypeError:
            skip = False
        if skip:
            # Hidden code (the tracer's own): its callees take its place.
            _lines(child, names, depth, out, hidden)
            continue
        fn = names[child.function]
        where = f" ({fn.short_file}:{fn.firstlineno})" if fn.kind == "python" else ""
        parts = [f"{child.calls} call{'s' if child.calls != 1 else ''}"]
        if child.coroutine:
            parts.append(f"{format_duration(child.wall_ns / 1e9)} wall")
        parts.append(f"{format_duration(child.cpu_ns / 1e9)} on CPU")
        out.append("    " * depth + f"{fn.display}{where}  " + ", ".join(parts))
        _lines(child, names, depth + 1, out, hidden)
