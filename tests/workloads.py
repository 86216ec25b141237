"""Code for the tests to trace. Its line numbers and names are compared
against cProfile, so keep each function plain."""

import asyncio
import functools
import threading


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def is_even(n):
    return True if n == 0 else is_odd(n - 1)


def is_odd(n):
    return False if n == 0 else is_even(n - 1)


def mutual():
    return [is_even(k) for k in range(12)]


def raiser(depth):
    if depth == 0:
        raise ValueError("bottom")
    return raiser(depth - 1)


def catch_at(depth):
    try:
        raiser(depth)
    except ValueError:
        return depth


def middle(depth):
    try:
        return catch_at(depth) + raiser(depth)
    except ValueError:
        return -1


def exceptions():
    out = [catch_at(d) for d in range(5)]
    out += [middle(d) for d in range(3)]
    return out


class Shape:
    def __init__(self, side):
        self.side = side

    @property
    def area(self):
        return self.side * self.side

    @classmethod
    def make(cls, side):
        return cls(side)

    @staticmethod
    def unit():
        return Shape.make(1)

    def scaled(self, k):
        return Shape(self.side * k)


def objects():
    shapes = [Shape.make(i) for i in range(6)]
    shapes.append(Shape.unit())
    return sum([s.scaled(2).area for s in shapes[:3]]) + sum([s.area for s in shapes])


def deco(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


@deco
def decorated(x):
    return x + 1


def decorators():
    return [decorated(i) for i in range(4)]


def lambdas():
    inc = lambda x: x + 1  # noqa: E731
    twice = lambda f, x: f(f(x))  # noqa: E731
    return [twice(inc, i) for i in range(5)]


def keyfn(x):
    return -x


def square(x):
    return x * x


def from_c():
    a = sorted(range(20), key=keyfn)
    b = list(map(square, range(7)))
    c = max(range(9), key=keyfn)
    return a, b, c


def everything():
    fib(12)
    mutual()
    exceptions()
    objects()
    decorators()
    lambdas()
    from_c()


def countdown(n):
    while n:
        yield n
        n -= 1


def consume_generator():
    return list(countdown(3))


async def leaf(i):
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return i


async def gather_many(n):
    return await asyncio.gather(*(leaf(i) for i in range(n)))


def work(x):
    return x + 1


def thread_worker(n, barrier):
    barrier.wait()
    for i in range(n):
        work(i)
    barrier.wait()


def run_threads(counts):
    barrier = threading.Barrier(len(counts))
    threads = [
        threading.Thread(target=thread_worker, args=(n, barrier), name=f"worker-{k}")
        for k, n in enumerate(counts)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class Token(tuple):
    pass


def builtins_by_kind():
    """C functions bound every way there is: module functions, class and
    static methods, the `__new__` of two types, methods bound and not."""
    import datetime

    keys = dict.fromkeys("ab")
    n = int.from_bytes(b"\x01\x02", "big")
    now = datetime.datetime.now()
    table = str.maketrans("a", "b")
    pair = tuple.__new__(Token, (1, 2))
    plain = object.__new__(Shape)
    items = []
    items.append(n)
    list.append(items, len(keys))
    return sorted(items, key=keyfn), now.year > 2000, table, pair, plain.__sizeof__() > 0
