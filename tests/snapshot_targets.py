"""Functions traced by tests/test_snapshot.py, each a shape of code whose
statement snapshots monitrace and tracefunc must agree on."""

import threading


def one_line():
    a = 1; b = 2  # noqa: E702
    c = a + b
    return c


def loops(n):
    total = 0
    for i in range(n):
        if i % 2:
            total += i
        else:
            total -= 1
    k = 0
    while k < 3:
        k += 1
    return total + k


def handlers(x):
    try:
        y = 10 // x
    except ZeroDivisionError as e:
        y = -1
        why = str(e)
    finally:
        done = True
    return y


def matcher(v):
    match v:
        case [a, b]:
            out = a + b
        case {"k": k}:
            out = k
        case int() if v > 3:
            out = v * 2
        case _:
            out = None
    return out


def comprehensions(n):
    sq = [x * x for x in range(n)]
    ev = {x for x in range(n) if x % 2 == 0}
    dd = {k: k + 1 for k in range(2)}
    tot = sum(y for y in range(n))
    return sq, ev, dd, tot


def nested(n):
    def helper(z):
        w = z * 2
        return w

    acc = [helper(i) for i in range(n)]
    last = helper(n)
    return acc, last


def fact(n):
    if n <= 1:
        return 1
    r = n * fact(n - 1)
    return r


def run_fact(n):
    return fact(n)


def gen(n):
    for i in range(n):
        sq = i * i
        yield sq
    tail = "end"


def run_gen(n):
    a = list(gen(n))
    b = list(gen(2))
    return a, b


async def coro(n):
    total = 0
    for i in range(n):
        total += i
        await _Yield()
    return total


class _Yield:
    def __await__(self):
        yield


def run_coro(n):
    c1, c2 = coro(n), coro(n + 1)
    results = []
    for c in (c1, c2, c1, c2, c1, c2, c1, c2, c2):
        try:
            c.send(None)
        except StopIteration as e:
            results.append(e.value)
    return results


def raises(n):
    x = n + 1
    if x > 2:
        raise ValueError("too big")
    return x


def many_calls(n):
    out = []
    for i in range(n):
        out.append(one_line())
    return out


def work(t):
    s = 0
    for i in range(5):
        s += i * t
    return s


def threaded(nthreads):
    barrier = threading.Barrier(nthreads)
    out = [None] * nthreads

    def body(j):
        barrier.wait()
        out[j] = work(j)

    ts = [threading.Thread(target=body, args=(j,)) for j in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr for you")


class DeepRepr:
    def __repr__(self):
        return repr(self)


def hostile_values():
    bad = BadRepr()
    deep = DeepRepr()
    long = "x" * 500
    return bad, deep, long


def loop_heavy(n):
    total = 0
    for i in range(n):
        j = i * 2
        if j % 3 == 0:
            total += j
        else:
            total -= 1
    return total


class Tracked:
    pass


def make_tracked(refs):
    import weakref

    obj = Tracked()
    refs.append(weakref.ref(obj))
    return None
