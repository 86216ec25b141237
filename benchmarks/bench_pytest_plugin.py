"""Cost of the pytest plugin on a suite that does not use it.

Writes a synthetic suite of 1,000 tests (plain tests, a fixture, a
parametrized test and a test class per module) to a temporary directory and
times, in fresh interpreters, collection only (``--co``) and a full run:

- without the plugin (``-p no:monitrace``: pytest never imports it, as if
  monitrace were not installed);
- with the plugin installed and idle (the default);
- with ``--monitrace`` (every test traced), for reference.

Usage: python benchmarks/bench_pytest_plugin.py [--tests 1000] [--repeat 7]
Prints a Markdown table of the median and best wall times. Runs are
interleaved so that drift in machine load hits every configuration alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODULE = '''
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
'''

PLAIN_TEST = '''
def test_plain_{i}(value):
    assert work({i}) == {total}
'''

MODULES = 20


def write_suite(root: str, tests: int) -> int:
    """Write the suite; return how many tests it holds."""
    per_module = tests // MODULES
    params = per_module // 5
    plain = per_module - params - 2
    count = 0
    for m in range(MODULES):
        body = "".join(
            PLAIN_TEST.format(i=i, total=sum(range(i))) for i in range(plain)
        )
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


def run_once(python: str, root: str, args: list[str]) -> float:
    cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", *args, root]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--python", default=sys.executable)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="monitrace-bench-") as root:
        count = write_suite(root, opts.tests)
        times: dict[tuple[str, str], list[float]] = {}
        for mode, mode_args in MODES.items():
            run_once(opts.python, root, mode_args)  # warm the caches
            for _ in range(opts.repeat):
                for name, args in CONFIGS.items():
                    key = (mode, name)
                    times.setdefault(key, []).append(
                        run_once(opts.python, root, [*mode_args, *args])
                    )
    version = subprocess.run(
        [opts.python, "-c", "import sys, pytest; print(sys.version.split()[0], pytest.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    print(f"{count} tests, Python {version[0]}, pytest {version[1]}, "
          f"{opts.repeat} runs each, wall time of a fresh `python -m pytest`\n")
    print("| what | configuration | median | best | vs. without |")
    print("| --- | --- | ---: | ---: | ---: |")
    for mode in MODES:
        base = statistics.median(times[(mode, next(iter(CONFIGS)))])
        for name in CONFIGS:
            samples = times[(mode, name)]
            med = statistics.median(samples)
            print(f"| {mode} | {name} | {med:.3f} s | {min(samples):.3f} s "
                  f"| {(med - base) * 1000:+.0f} ms |")


if __name__ == "__main__":
    main()
