"""A real asyncio server on 127.0.0.1, traced: asyncio.start_server, three
clients in named tasks. Exact counts, per-task structure, wall time
against time on the stack, and the Chrome trace's async slices."""

import asyncio
import json
import re

import monitrace

from test_async_tasks import _async_slices, shape

CLIENTS = 3


async def handle(reader, writer):
    line = await reader.readline()
    writer.write(line.upper())
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def client(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello %d\n" % i)
    await writer.drain()
    reply = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return reply


async def serve():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await asyncio.gather(
            *(asyncio.create_task(client(port, i), name=f"client-{i}") for i in range(CLIENTS))
        )


def test_traced_server_and_clients(tmp_path):
    with monitrace.trace(record=True, include=[__name__]) as s:
        replies = asyncio.run(serve())
    assert replies == [b"HELLO %d\n" % i for i in range(CLIENTS)]
    assert s.errors == []
    stats = {x.name: x for x in s.stats()}
    for name in ("handle", "client"):
        row = stats[name]
        assert (row.calls, row.samples) == (CLIENTS, CLIENTS)
        # Every activation awaited the network: its wall time holds its
        # time on the stack and more.
        assert row.wall_time > row.total_time > 0
        assert row.segments > CLIENTS  # resumed after awaits
    assert stats["serve"].calls == 1
    # serve awaits all clients: its one activation outlives each of theirs.
    assert stats["serve"].wall_time >= stats["client"].max_time

    got = shape(s.tree(by_task=True))
    headings = [i for i, x in enumerate(got) if x[0] == "task"]
    trees = {got[i][1]: got[i + 1 : j] for i, j in zip(headings, headings[1:] + [len(got)])}
    for i in range(CLIENTS):
        assert trees[f"task 'client-{i}'"] == [(1, "client", 1, True)]
    handlers = [name for name, body in trees.items() if body == [(1, "handle", 1, True)]]
    assert len(handlers) == CLIENTS  # one task per connection, named by asyncio
    assert all(re.fullmatch(r"task 'Task-\d+'", h) for h in handlers)
    (runner,) = [body for body in trees.values() if body[:1] == [(1, "serve", 1, True)]]
    assert runner[1:] == [(2, "serve.<genexpr>", 1, False)]

    path = tmp_path / "server.json"
    s.save(str(path), "chrome")
    tracks = _async_slices(json.loads(path.read_text())["traceEvents"])
    lives = sorted((sl[0][3], [n.rsplit(".", 1)[-1] for n, *_ in sl]) for sl in tracks.values())
    assert [x for x in lives if x[0].startswith("client")] == [
        (f"client-{i}", ["client"]) for i in range(CLIENTS)
    ]
    assert sum(1 for _t, names in lives if names == ["handle"]) == CLIENTS
