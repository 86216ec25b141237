"""Code traced by the tree tests. Line numbers matter: the expected trees
in test_tree.py name them, so add new cases at the end."""

import threading


def divide(a, b):
    return a / b


def compute():
    return divide(1, 0)


def outer(n):
    def inner(x):
        return x + 1

    return inner(n) * 2


def gen():
    received = yield 1
    try:
        yield received * 2
    except ValueError:
        yield "caught"
    yield "last"


def simple():
    yield 1
    yield 2


def drive_generator():
    g = gen()
    next(g)
    g.send(5)
    g.throw(ValueError)
    g.close()  # GeneratorExit runs into gen: PY_THROW, PY_UNWIND
    s = simple()
    next(s)
    s.close()  # 3.12, 3.14+: PY_THROW, PY_UNWIND; 3.13: no event (fast path)


def fact(n):
    return 1 if n <= 1 else n * fact(n - 1)


def leaf(name):
    return len(name)


def work():
    return leaf(threading.current_thread().name)


def two_threads():
    for name in ("worker-1", "worker-2"):
        t = threading.Thread(target=work, name=name)
        t.start()
        t.join()


def loop(n):
    total = 0
    for i in range(n):
        total += i
    return total


class Bad:
    def __repr__(self):
        raise ValueError("no repr for you")


class Huge:
    def __repr__(self):
        return "y" * 10_000_000


def take(a, b, *rest, key=None, **extra):
    return a


def catches():
    try:
        compute()
    except ZeroDivisionError:
        return "handled"


def uses_c():
    return len([1, 2]) + abs(-1)
