"""Cost of the pytest plugin on a suite that does not use it.

Writes a synthetic suite of 1,000 tests (plain tests, a fixture, a
parametrized test and a test class per module) to a temporary directory and
times, in fresh interpreters, collection only (``--co``) and a full run:

- without the plugin (``-p no:monitrace``: pytest never imports it, as if
  monitrace were not installed);
- with the plugin installed and idle (the default);
- with ``--monitrace`` (every test traced), for reference.

Usage: python benchmarks/bench_pytest_plugin.py [--tests 1000] [--repeat 7]
Prints a Markdown table of median CPU and wall times, and the cost of
importing the plugin module. Runs are interleaved so that drift in machine
load hits every configuration alike.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

MODULE = """
import pytest


def work(n):
    return sum(range(n))


@pytest.fixture
def value():
    return work(10)

{tests}

@pytest.mark.parametrize("n", range({params}))
def test_param(n):
    assert work(n) >= 0


class TestGroup:
    def test_a(self, value):
        assert value == 45

    def test_b(self):
        assert work(3) == 3
"""

PLAIN_TEST = """
def test_plain_{i}(value):
    assert work({i}) == {total}
"""

MODULES = 20


def write_suite(root: str, tests: int) -> int:
    """Write the suite; return how many tests it holds."""
    per_module = tests // MODULES
    params = per_module // 5
    plain = per_module - params - 2
    count = 0
    for m in range(MODULES):
        body = "".join(PLAIN_TEST.format(i=i, total=sum(range(i))) for i in range(plain))
        with open(os.path.join(root, f"test_mod{m:02d}.py"), "w") as f:
            f.write(MODULE.format(tests=body, params=params))
        count += plain + params + 2
    return count


CONFIGS = {
    "without plugin (-p no:monitrace)": ["-p", "no:monitrace"],
    "plugin installed, idle": [],
    "--monitrace": ["--monitrace", "--monitrace-report=0"],
}
MODES = {"collection (--co)": ["--co", "-q"], "collection + run": ["-q"]}


def run_once(python: str, root: str, args: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh pytest run. CPU time (user
    + system of the child) is the steadier number on a shared machine."""
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", *args, root]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


IMPORT_COST = """
import time, pytest
start = time.perf_counter()
import monitrace.pytest_plugin
print(time.perf_counter() - start)
"""


MARKER_SCAN = """
import sys, time, pytest
from monitrace import pytest_plugin

class Timer:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        best = float("inf")
        for _ in range(20):
            start = time.perf_counter()
            pytest_plugin.pytest_collection_modifyitems(session, config, items)
            best = min(best, time.perf_counter() - start)
        print("SCAN", len(items), best)

pytest.main(["-q", "--co", "-p", "no:cacheprovider", "-p", "no:monitrace", sys.argv[1]],
            plugins=[Timer()])
"""


def marker_scan_cost(python: str, root: str) -> tuple[int, float]:
    """(items, best seconds) of the plugin's only per-item work when idle:
    looking for @pytest.mark.monitrace among the collected items."""
    out = subprocess.run(
        [python, "-c", MARKER_SCAN, root], capture_output=True, text=True, check=True, cwd=root
    ).stdout
    _, items, best = next(l for l in out.splitlines() if l.startswith("SCAN")).split()
    return int(items), float(best)


def import_cost(python: str, repeat: int) -> float:
    """Best time to import the plugin module in a fresh interpreter that
    has already imported pytest (what the entry point adds)."""
    return min(
        float(
            subprocess.run(
                [python, "-c", IMPORT_COST], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="monitrace-bench-") as root:
        count = write_suite(root, opts.tests)
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for mode, mode_args in MODES.items():
            run_once(opts.python, root, mode_args)  # warm the caches
            for _ in range(opts.repeat):
                for name, args in CONFIGS.items():
                    key = (mode, name)
                    times.setdefault(key, []).append(
                        run_once(opts.python, root, [*mode_args, *args])
                    )
        items, scan = marker_scan_cost(opts.python, root)
    version = subprocess.run(
        [
            opts.python,
            "-c",
            "import sys, pytest; print(sys.version.split()[0], pytest.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    print(
        f"{count} tests, Python {version[0]}, pytest {version[1]}, "
        f"median of {opts.repeat} fresh `python -m pytest` runs\n"
    )
    print("| what | configuration | CPU time | vs. without | wall time |")
    print("| --- | --- | ---: | ---: | ---: |")
    for mode in MODES:
        base = statistics.median(c for c, _ in times[(mode, next(iter(CONFIGS)))])
        for name in CONFIGS:
            cpu = statistics.median(c for c, _ in times[(mode, name)])
            wall = statistics.median(w for _, w in times[(mode, name)])
            print(
                f"| {mode} | {name} | {cpu:.3f} s | {(cpu - base) * 1000:+.0f} ms | {wall:.3f} s |"
            )
    cost = import_cost(opts.python, opts.repeat)
    print(
        f"\nimporting monitrace.pytest_plugin after pytest: {cost * 1000:.2f} ms (best of "
        f"{opts.repeat}); the C extension is not loaded"
    )
    print(f"looking for the marker among {items} collected items: {scan * 1000:.2f} ms")


if __name__ == "__main__":
    main()
