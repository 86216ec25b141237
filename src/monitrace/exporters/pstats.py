"""The pstats format: the marshal'd dictionary that ``pstats.Stats`` loads.

Shape (what cProfile writes)::

    {(filename, firstlineno, name):
        (primitive calls, calls, self s, inclusive s,
         {(caller filename, lineno, name): (calls, primitive calls,
                                            self s, inclusive s)})}

Python functions are keyed by their code object's ``co_filename``,
``co_firstlineno`` and ``co_name``; C functions (``c_calls=True``) as
cProfile keys them, ``("~", 0, "<built-in method builtins.len>")``, except
that no key carries an address: cProfile writes ``__new__`` as
``<built-in method __new__ of type object at 0x...>``, which changes from
run to run; here it is ``<built-in method __new__ of type object>``. C
functions that share a label (``tuple.__new__`` and ``object.__new__``, or
``bytes.fromhex`` and ``bytearray.fromhex``, both ``<built-in method
fromhex>``) share its entry, their numbers summed (cProfile keeps one
entry per PyMethodDef and writes only the last of those that share a
label). Counts
per function and per caller edge follow cProfile's rules (a call is
primitive when the same function, or the same caller -> callee edge, is not
already active; inclusive time counts the outermost activation only), with
one difference: a generator or coroutine counts one call when it starts,
where cProfile counts every resume as a call. Threads are merged.
"""

from __future__ import annotations

import marshal
from typing import IO, Any

from ..model import identity as _identity
from .source import Source

Key = tuple[str, int, str]
Edge = tuple[int, int, float, float]
Entry = tuple[int, int, float, float, dict[Key, Edge]]


def function_keys(snapshot: dict[str, Any]) -> list[Key]:
    """The pstats key of every record of the snapshot, by record index."""
    keys = []
    for kind, key, module, _traced in snapshot["records"]:
        ident = _identity(kind, key, module)
        keys.append((ident["filename"], ident["firstlineno"], ident["name"]))
    return keys


class _LazyKeys:
    """function_keys() made on demand: a snapshot may hold many records
    (every function a long-lived session met) of which few have rows."""

    def __init__(self, records: Any) -> None:
        self._records = records
        self._keys: dict[int, Key] = {}

    def __getitem__(self, index: int) -> Key:
        key = self._keys.get(index)
        if key is None:
            kind, code, module = self._records[index][:3]
            ident = _identity(kind, code, module)
            key = self._keys[index] = (ident["filename"], ident["firstlineno"], ident["name"])
        return key


def _dead_key(name: Any) -> Key:
    ident = _identity("py", name, None)
    return (ident["filename"], ident["firstlineno"], ident["name"])


def build(snapshot: dict[str, Any]) -> dict[Key, Entry]:
    """The pstats dictionary of a Tracer snapshot (times in seconds).

    Times are summed in clock ticks and converted once, so a function's
    self time is exactly the sum of its caller edges' (when every call has
    a traced caller)."""
    keys = _LazyKeys(snapshot["records"])
    sec = snapshot["ns_per_tick"] / 1e9
    funcs: dict[Key, list[int]] = {}
    edges: dict[Key, dict[Key, list[int]]] = {}

    def add_rows(rows: Any, key_of: Any) -> None:
        for first, calls, prim, total, self_ticks, *_rest in rows:
            acc = funcs.setdefault(key_of(first), [0, 0, 0, 0])
            acc[0] += prim
            acc[1] += calls
            acc[2] += self_ticks
            acc[3] += total

    def add_edges(pairs: Any) -> None:
        for caller, callee, calls, prim, total, self_ticks in pairs:
            by_caller = edges.setdefault(keys[callee], {})
            acc = by_caller.setdefault(keys[caller], [0, 0, 0, 0])
            acc[0] += calls
            acc[1] += prim
            acc[2] += self_ticks
            acc[3] += total

    for thread in snapshot["threads"]:
        add_rows(thread["rows"], keys.__getitem__)
        add_edges(thread["edges"])
    # Threads that ended keep their rows; their edges were merged.
    add_edges(snapshot.get("finished", {}).get("edges", ()))
    # Code objects that died, by name.
    add_rows(snapshot.get("retired", ()), _dead_key)
    out: dict[Key, Entry] = {}
    for key, (prim, calls, self_ticks, total) in funcs.items():
        callers = {
            caller: (c, p, s * sec, t * sec) for caller, (c, p, s, t) in edges.get(key, {}).items()
        }
        out[key] = (prim, calls, self_ticks * sec, total * sec, callers)
    return out


def write(source: Source, out: IO[bytes]) -> None:
    """Write the pstats file of `source` to the binary stream `out`."""
    marshal.dump(build(source.snapshot), out)


def merge(into: dict[Key, Entry], more: dict[Key, Entry]) -> None:
    """Add the pstats dictionary `more` to `into`, summing what two runs of
    the same function (and the same caller edge) share, as
    ``pstats.Stats.add`` does."""
    for key, (prim, calls, self_s, total_s, callers) in more.items():
        old = into.get(key)
        if old is None:
            into[key] = (prim, calls, self_s, total_s, dict(callers))
            continue
        edges = dict(old[4])
        for caller, edge in callers.items():
            seen = edges.get(caller)
            edges[caller] = (
                edge
                if seen is None
                else (seen[0] + edge[0], seen[1] + edge[1], seen[2] + edge[2], seen[3] + edge[3])
            )
        into[key] = (old[0] + prim, old[1] + calls, old[2] + self_s, old[3] + total_s, edges)


def to_data(stats: dict[Key, Entry]) -> list[Any]:
    """A pstats dictionary as JSON-ready lists (its keys are tuples)."""
    return [
        [
            list(key),
            [
                prim,
                calls,
                self_s,
                total_s,
                [[list(caller), list(edge)] for caller, edge in callers.items()],
            ],
        ]
        for key, (prim, calls, self_s, total_s, callers) in stats.items()
    ]


def from_data(data: list[Any]) -> dict[Key, Entry]:
    """The inverse of :func:`to_data`."""
    out: dict[Key, Entry] = {}
    for (filename, line, name), (prim, calls, self_s, total_s, callers) in data:
        out[(filename, line, name)] = (
            prim,
            calls,
            self_s,
            total_s,
            {(cf, cl, cn): (c, p, s, t) for (cf, cl, cn), (c, p, s, t) in callers},
        )
    return out
