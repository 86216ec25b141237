"""What tracing every test costs: ms added per test by ``pytest --monitrace``.

Writes a suite of small tests (each calls a few helper functions, about
the work of a typical unit test) to a temporary directory and times, in
fresh interpreters, side by side and interleaved:

- plain pytest (``-p no:monitrace``);
- ``--monitrace`` (every test traced, the end-of-session summary printed);
- ``--monitrace --monitrace-out DIR`` (plus a pstats file per test);
- ``--cprofile``: cProfile around every test, one profile file per test and
  the merged top functions at the end, as pytest-profiling's ``--profile``
  does (a small plugin written next to the suite, so nothing to install).

Usage: python benchmarks/bench_pytest_per_test.py [--tests 2000] [--repeat 5]
       [--profile FILE]   (also cProfile one --monitrace run into FILE)
Prints a Markdown table of CPU time per run (median and best) and the ms
each configuration adds per test over plain pytest. Nothing here asserts
on time.
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

HELPERS = """
def parse(text):
    return [int(part) for part in text.split(",") if part]


def total(values):
    return sum(values)


class Account:
    def __init__(self, owner):
        self.owner = owner
        self.entries = []

    def add(self, amount):
        self.entries.append(amount)
        return self

    def balance(self):
        return total(self.entries)
"""

TEST = """
def test_case_{i}():
    values = parse("{i},2,3")
    account = Account("a{i}")
    for value in values:
        account.add(value)
    assert account.balance() == {expected}
"""

# cProfile per test, written as pytest-profiling's --profile does: one
# profile file per test, merged with pstats at the end and the top rows
# printed.
CPROFILE_PLUGIN = """
import cProfile, os, pstats, re, tempfile

import pytest


def pytest_addoption(parser):
    parser.addoption("--cprofile", action="store_true")


class _Profiling:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cprofile-")
        self.files = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        prof = cProfile.Profile()
        prof.enable()
        yield
        prof.disable()
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
        path = os.path.join(self.dir, name + ".prof")
        prof.dump_stats(path)
        self.files.append(path)

    def pytest_terminal_summary(self, terminalreporter):
        if self.files:
            stats = pstats.Stats(*self.files, stream=terminalreporter)
            stats.sort_stats("tottime").print_stats(10)


def pytest_configure(config):
    if config.getoption("cprofile"):
        config.pluginmanager.register(_Profiling(), "cprofile-per-test")
"""

MODULES = 20


def write_suite(root: str, tests: int) -> int:
    """Write the suite; return how many tests it holds."""
    with open(os.path.join(root, "helpers.py"), "w") as f:
        f.write(HELPERS)
    with open(os.path.join(root, "conftest.py"), "w") as f:
        f.write(CPROFILE_PLUGIN)
    per_module = max(1, tests // MODULES)
    count = 0
    for m in range(MODULES):
        body = "from helpers import Account, parse\n" + "".join(
            TEST.format(i=count + i, expected=count + i + 5) for i in range(per_module)
        )
        with open(os.path.join(root, f"test_mod{m:02d}.py"), "w") as f:
            f.write(body)
        count += per_module
    return count


def configs(out_dir: str) -> dict[str, list[str]]:
    return {
        "plain pytest (-p no:monitrace)": ["-p", "no:monitrace"],
        "--monitrace": ["--monitrace"],
        "--monitrace --monitrace-out DIR": ["--monitrace", "--monitrace-out", out_dir],
        "cProfile per test (--profile style)": ["-p", "no:monitrace", "--cprofile"],
    }


def run_once(python: str, root: str, args: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh pytest run. CPU time (user
    + system of the child) is the steadier number on a shared machine."""
    cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, root]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def profile_run(python: str, root: str, path: str) -> None:
    """cProfile one --monitrace run into `path` (pstats), to see where
    the plugin's time goes."""
    cmd = [
        python,
        "-m",
        "cProfile",
        "-o",
        path,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--monitrace",
        root,
    ]
    subprocess.run(cmd, cwd=root, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--profile", metavar="FILE", help="also cProfile one --monitrace run into FILE"
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the table here")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="monitrace-bench-") as root:
        count = write_suite(os.path.join(root), opts.tests)
        out_dir = os.path.join(root, "out")
        table = configs(out_dir)
        run_once(opts.python, root, [])  # warm the file system and pycs
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in table}
        for _ in range(opts.repeat):
            for name, args in table.items():
                times[name].append(run_once(opts.python, root, args))
        if opts.profile:
            profile_run(opts.python, root, os.path.abspath(opts.profile))
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
    lines = [
        f"{count} small tests, Python {version[0]}, pytest {version[1]}, "
        f"{opts.repeat} fresh runs each, interleaved (CPU time: user + system; the "
        "best run is the steadier figure on a shared machine)",
        "",
        "| configuration | CPU time (median) | added per test (median) "
        "| CPU time (best) | added per test (best) | wall time (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    plain = times[next(iter(table))]
    base = statistics.median(c for c, _ in plain)
    best_base = min(c for c, _ in plain)
    for name in table:
        cpu = statistics.median(c for c, _ in times[name])
        best = min(c for c, _ in times[name])
        wall = statistics.median(w for _, w in times[name])
        lines.append(
            f"| {name} | {cpu:.2f} s | {(cpu - base) / count * 1000:+.2f} ms "
            f"| {best:.2f} s | {(best - best_base) / count * 1000:+.2f} ms "
            f"| {wall:.2f} s |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if opts.markdown:
        with open(opts.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
