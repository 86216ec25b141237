"""Generators and coroutines (send, throw, close, yield from, async
generators, task cancellation, exceptions through several generator
levels) and KeyboardInterrupt / SystemExit inside a traced block."""

import asyncio
import signal
import sys

import pytest
from hostile_util import (
    assert_consistent,
    assert_still_exact,
    run_script,
    same_as_untraced,
)

import monitrace


def accumulator(log):
    total = 0
    try:
        while True:
            try:
                value = yield total
            except ValueError as exc:
                log.append(("thrown", str(exc)))
                value = -1
            total += value
    finally:
        log.append(("closed", total))


def send_throw_close(log):
    gen = accumulator(log)
    next(gen)
    out = [gen.send(5), gen.send(7), gen.throw(ValueError("bad")), gen.send(1)]
    gen.close()
    gen.close()  # closing twice is a no-op
    try:
        gen.send(1)
    except StopIteration:
        out.append("stopped")
    return out


def leaf_gen(n, log):
    for i in range(n):
        got = yield i
        if got is not None:
            log.append(("leaf got", got))
    return n * 10


def middle_gen(n, log):
    result = yield from leaf_gen(n, log)
    log.append(("middle result", result))
    return result + 1


def outer_gen(n, log):
    result = yield from middle_gen(n, log)
    log.append(("outer result", result))
    return result


def yield_from_chain(log):
    gen = outer_gen(4, log)
    out = [next(gen), gen.send("a"), next(gen), gen.send("b")]
    try:
        next(gen)
    except StopIteration as stop:
        out.append(("stop", stop.value))
    return out


def thrower_bottom(log):
    try:
        yield 1
        yield 2
    except KeyError as exc:
        log.append(("bottom saw", str(exc)))
        raise RuntimeError("converted") from exc


def thrower_middle(log):
    try:
        yield from thrower_bottom(log)
    finally:
        log.append("middle finally")


def thrower_top(log):
    try:
        yield from thrower_middle(log)
    except RuntimeError as exc:
        log.append(("top caught", str(exc), type(exc.__cause__).__name__))
        yield "recovered"


def throw_through_levels(log):
    gen = thrower_top(log)
    out = [next(gen), gen.throw(KeyError("k"))]
    # an exception nobody catches, thrown through three levels
    gen2 = thrower_top(log)
    next(gen2)
    try:
        gen2.throw(ZeroDivisionError("z"))
    except ZeroDivisionError as exc:
        out.append(("escaped", str(exc)))
    # close() raises GeneratorExit through every level
    gen3 = thrower_top(log)
    next(gen3)
    gen3.close()
    return out


def abandoned_generators(log):
    # started and dropped while suspended: finalised by refcounting
    for i in range(5):
        gen = accumulator(log)
        next(gen)
        gen.send(i)
        del gen
    return len(log)


async def ticker(n, log):
    for i in range(n):
        await asyncio.sleep(0)
        yield i
    log.append("ticker done")


async def async_gen_main(log):
    out = [x async for x in ticker(3, log)]
    agen = ticker(10, log)
    out.append(await agen.__anext__())
    out.append(await agen.asend(None))
    try:
        await agen.athrow(ValueError("into agen"))
    except ValueError as exc:
        out.append(("athrow", str(exc)))
    await agen.aclose()
    return out


def async_generators(log):
    return asyncio.run(async_gen_main(log))


async def sleeper(log, tag):
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append(("cancelled", tag))
        raise
    finally:
        log.append(("finally", tag))


async def cancel_main(log):
    tasks = [asyncio.create_task(sleeper(log, i)) for i in range(5)]
    await asyncio.sleep(0)
    for t in tasks[::2]:
        t.cancel()
    done = await asyncio.gather(*tasks[::2], return_exceptions=True)
    log.append([type(d).__name__ for d in done])
    try:
        await asyncio.wait_for(sleeper(log, "timeout"), timeout=0)
    except TimeoutError:
        log.append("timed out")
    for t in tasks[1::2]:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return sorted(str(t.cancelled()) for t in tasks)


def task_cancellation(log):
    return asyncio.run(cancel_main(log))


async def inner_coro(log):
    await asyncio.sleep(0)
    raise LookupError("deep")


async def middle_coro(log):
    try:
        return await inner_coro(log)
    finally:
        log.append("middle coro finally")


def coroutine_exception_through_levels(log):
    async def top():
        try:
            await middle_coro(log)
        except LookupError as exc:
            return ("caught", str(exc))

    coro = top()
    # drive it by hand: send / throw on a coroutine
    try:
        coro.send(None)
        coro.send(None)
    except StopIteration as stop:
        return stop.value


SCENARIOS = [
    send_throw_close,
    yield_from_chain,
    throw_through_levels,
    abandoned_generators,
    async_generators,
    task_cancellation,
    coroutine_exception_through_levels,
]


@pytest.mark.parametrize("c_calls", [False, True])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_generator_scenarios_behave_as_untraced(scenario, c_calls):
    session = same_as_untraced(scenario, c_calls=c_calls)
    assert session.calls(f"test_generators_hostile.{scenario.__name__}") == 1
    assert_still_exact(session)


def test_generator_call_counts_exact():
    with monitrace.trace() as s:
        yield_from_chain([])
        throw_through_levels([])
        send_throw_close([])
    assert s.calls("test_generators_hostile.outer_gen") == 1
    assert s.calls("test_generators_hostile.middle_gen") == 1
    assert s.calls("test_generators_hostile.leaf_gen") == 1
    assert s.calls("test_generators_hostile.thrower_top") == 3
    assert s.calls("test_generators_hostile.thrower_middle") == 3
    assert s.calls("test_generators_hostile.thrower_bottom") == 3
    assert s.calls("test_generators_hostile.accumulator") == 1
    assert_consistent(s)


def test_generator_suspended_across_stop_and_start():
    s = monitrace.trace()
    gen = accumulator([])
    with s:
        next(gen)
        gen.send(1)
    gen.send(2)  # resumed while not traced
    with s:
        gen.send(3)  # resumed in a new run: not a new call
        gen.close()
    assert s.calls("test_generators_hostile.accumulator") == 1
    assert_consistent(s)
    assert_still_exact(s)


def deep_then_interrupt(n):
    if n == 0:
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # the handler runs at the next check
            pass
        return "not interrupted"
    return deep_then_interrupt(n - 1)


@pytest.mark.parametrize("how", ["raise", "signal"])
def test_keyboard_interrupt_inside_traced_block(how):
    def body():
        if how == "raise":
            raise KeyboardInterrupt
        deep_then_interrupt(50)

    session = monitrace.trace(c_calls=True)
    with pytest.raises(KeyboardInterrupt):
        with session:
            body()
    assert not session.running
    assert sys.monitoring.get_tool(3) is None
    assert_consistent(session)
    if how == "signal":
        assert session.calls("test_generators_hostile.deep_then_interrupt") == 51
    assert_still_exact(session)


def test_keyboard_interrupt_inside_generator_propagates():
    def gen():
        yield 1
        raise KeyboardInterrupt

    with monitrace.trace() as s:
        g = gen()
        next(g)
        with pytest.raises(KeyboardInterrupt):
            next(g)
    assert_consistent(s)


def test_system_exit_inside_traced_block():
    with monitrace.trace() as s:
        with pytest.raises(SystemExit) as info:
            sys.exit(3)
    assert info.value.code == 3
    assert_consistent(s)


SYSEXIT_SCRIPT = """
import sys
import monitrace
from hostile_util import probe

def main():
    print("result", probe(10))
    sys.exit(int(sys.argv[1]))

if sys.argv[2] == "traced":
    with monitrace.trace():
        main()
else:
    main()
"""


@pytest.mark.parametrize("code", ["0", "3"])
def test_system_exit_code_and_output_same_as_untraced(code):
    plain = run_script(SYSEXIT_SCRIPT, code, "plain")
    traced = run_script(SYSEXIT_SCRIPT, code, "traced")
    assert (traced.returncode, traced.stdout, traced.stderr) == (
        plain.returncode,
        plain.stdout,
        plain.stderr,
    )
    assert plain.returncode == int(code)
    assert plain.stdout == "result 55\n"
