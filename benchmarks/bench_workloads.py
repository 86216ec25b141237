"""The programs the benchmark traces. Each workload is a function of no
arguments built by `make(name, quick)`; it does a fixed amount of work, so
every tracer sees exactly the same events."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import re
import threading
from collections.abc import Callable

Workload = Callable[[], object]


# ---- call-heavy recursion ------------------------------------------------


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


# ---- a realistic stdlib mix ----------------------------------------------


@dataclasses.dataclass
class Address:
    street: str
    city: str
    zip_code: str


@dataclasses.dataclass
class Customer:
    name: str
    email: str
    address: Address
    tags: list[str] = dataclasses.field(default_factory=list)
    balance: float = 0.0


SOURCE = """
def area(shape, *, scale=1.0):
    if shape.kind == "circle":
        return 3.14159 * shape.r ** 2 * scale
    elif shape.kind == "square":
        return shape.side * shape.side * scale
    return sum(part.area() for part in shape.parts) * scale

class Shape:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)
"""

EMAIL = re.compile(r"(?P<user>[\w.]+)@(?P<host>[\w-]+)\.(?P<tld>[a-z]{2,})")


class NameCounter(ast.NodeVisitor):
    def __init__(self) -> None:
        self.names: dict[str, int] = {}

    def visit_Name(self, node: ast.Name) -> None:
        self.names[node.id] = self.names.get(node.id, 0) + 1
        self.generic_visit(node)


def stdlib_mix(rounds: int) -> int:
    out = 0
    for i in range(rounds):
        people = [
            Customer(
                f"user{k}",
                f"user.{k}@example-{i}.org",
                Address(f"{k} Main St", "Springfield", f"{k:05d}"),
                tags=["a", "b"][: k % 3],
                balance=k * 1.5,
            )
            for k in range(8)
        ]
        blob = json.dumps([dataclasses.asdict(p) for p in people], indent=1)
        back = json.loads(blob)
        hosts = [EMAIL.sub(lambda m: m["user"].upper(), p["email"]) for p in back]
        moved = [dataclasses.replace(p, balance=p.balance + 1) for p in people]
        counter = NameCounter()
        counter.visit(ast.parse(SOURCE))
        nodes = sum(1 for _ in ast.walk(ast.parse("x = [a + b for a, b in y]")))
        out += len(blob) + len(hosts) + len(moved) + len(counter.names) + nodes
    return out


# ---- an object-oriented simulation ----------------------------------------


class Body:
    def __init__(self, x: float, v: float, mass: float) -> None:
        self.x = x
        self.v = v
        self.mass = mass

    @property
    def momentum(self) -> float:
        return self.mass * self.v

    def force_from(self, other: Body) -> float:
        d = other.x - self.x
        return other.mass * (1.0 if d > 0 else -1.0) / (d * d + 0.01)

    def step(self, force: float, dt: float) -> None:
        self.v += force / self.mass * dt
        self.x += self.v * dt


class Heavy(Body):
    def step(self, force: float, dt: float) -> None:
        super().step(force * 0.5, dt)


class World:
    def __init__(self, n: int) -> None:
        self.bodies: list[Body] = [
            (Heavy if k % 3 == 0 else Body)(float(k), 0.0, 1.0 + k % 4) for k in range(n)
        ]

    def net_force(self, body: Body) -> float:
        total = 0.0
        for other in self.bodies:
            if other is not body:
                total += body.force_from(other)
        return total

    def tick(self, dt: float) -> None:
        forces = [self.net_force(b) for b in self.bodies]
        for body, f in zip(self.bodies, forces):
            body.step(f, dt)

    def momentum(self) -> float:
        return sum(b.momentum for b in self.bodies)


def simulate(bodies: int, ticks: int) -> float:
    world = World(bodies)
    for _ in range(ticks):
        world.tick(0.01)
    return world.momentum()


# ---- generators with asyncio ----------------------------------------------


def numbers(n: int):
    for k in range(n):
        yield k


def evens(source):
    for k in source:
        if k % 2 == 0:
            yield k


async def produce(queue: asyncio.Queue[int | None], n: int) -> None:
    for k in evens(numbers(n)):
        await queue.put(k)
    await queue.put(None)


async def ticker(n: int):
    for k in range(n):
        await asyncio.sleep(0)
        yield k


async def consume(queue: asyncio.Queue[int | None]) -> int:
    total = 0
    while (item := await queue.get()) is not None:
        total += item
    async for k in ticker(20):
        total += k
    return total


async def pipelines(count: int, n: int) -> int:
    queues: list[asyncio.Queue[int | None]] = [asyncio.Queue(maxsize=8) for _ in range(count)]
    producers = [produce(q, n) for q in queues]
    consumers = [consume(q) for q in queues]
    results = await asyncio.gather(*producers, *consumers)
    return sum(r for r in results if r)


def async_generators(count: int, n: int) -> int:
    return asyncio.run(pipelines(count, n))


# ---- threads ---------------------------------------------------------------


def fib_in_threads(threads: int, n: int, per_thread: int) -> None:
    """`threads` threads each computing fib(n) `per_thread` times; the
    total work is threads * per_thread fib(n) calls."""
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        for _ in range(per_thread):
            fib(n)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


class Node:
    """A tree whose size is summed through generator expressions: one
    generator start, yield per child, resume and return per node."""

    def __init__(self, depth: int) -> None:
        self.children = [Node(depth - 1) for _ in range(3)] if depth else []

    def total(self) -> int:
        return 1 + sum(child.total() for child in self.children)


def gentree(rounds: int) -> int:
    tree = Node(5)
    out = 0
    for _ in range(rounds):
        out += tree.total() + fib(12)
    return out


# ---- the catalogue ---------------------------------------------------------

# name -> (description, full-size workload, quick workload)
CATALOGUE: dict[str, tuple[str, Workload, Workload]] = {
    "recursion": (
        "fib(25) (quick: fib(22)), call-heavy recursion",
        lambda: fib(25),
        lambda: fib(22),
    ),
    "stdlib": ("json, re, ast, dataclasses", lambda: stdlib_mix(60), lambda: stdlib_mix(20)),
    "oo": (
        "n-body simulation: classes, properties, super()",
        lambda: simulate(50, 30),
        lambda: simulate(30, 20),
    ),
    "async": (
        "asyncio queues, async and plain generator pipelines",
        lambda: async_generators(8, 1500),
        lambda: async_generators(4, 800),
    ),
    "gentree": (
        "recursion plus a method tree summed through generator "
        "expressions (record mode's worst case)",
        lambda: gentree(60),
        lambda: gentree(20),
    ),
    "threads4": (
        "4 threads, each fib(20) x 4 (quick: fib(18) x 2)",
        lambda: fib_in_threads(4, 20, 4),
        lambda: fib_in_threads(4, 18, 2),
    ),
    "threads1": (
        "threads4's work in 1 thread: fib(20) x 16 (quick: fib(18) x 8)",
        lambda: fib_in_threads(1, 20, 16),
        lambda: fib_in_threads(1, 18, 8),
    ),
}


def make(name: str, quick: bool) -> Workload:
    _, full, small = CATALOGUE[name]
    return small if quick else full
