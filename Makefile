# Entry points: `make demo` traces an example, `make test` runs the whole
# suite on every Python >= 3.12 found (set PYTHON=... to pick one), then
# `make memcheck` (the core and hostile tests under valgrind) on the first;
# `make bench` measures tracing overhead (`make bench-quick`: under a
# minute).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHONS = $(shell scripts/find-pythons.sh)

.PHONY: demo test memcheck bench bench-quick clean

demo:
	@py=$$(scripts/venv.sh "$$(scripts/find-pythons.sh | head -n 1)"); \
	"$$py" examples/demo.py

# The quick benchmark runs on the first interpreter only, without peers:
# it fails only if the benchmark code breaks, never on times.
test:
	@first=; for p in $(PYTHONS); do \
	    echo "=== tests on $$p"; \
	    py=$$(MONITRACE_WERROR=1 scripts/venv.sh "$$p" test); \
	    if [ -z "$$first" ]; then \
	        echo "=== quick benchmark on $$p (information only)"; \
	        "$$py" benchmarks/bench.py --quick --no-peers || exit 1; \
	    fi; \
	    first=$${first:-$$py}; \
	    "$$py" -m pytest -q -p no:cacheprovider || exit 1; \
	done; \
	$(MEMCHECK)

# valgrind memcheck over the core tests, one interpreter: any memory error,
# or a leak from monitrace._core, fails. Skipped (loudly) without valgrind.
MEMCHECK = if command -v valgrind >/dev/null; then \
	    echo "=== memcheck on $$first"; scripts/memcheck.sh "$$first"; \
	else echo "=== memcheck SKIPPED: valgrind is not installed"; fi

memcheck:
	@first=$$(MONITRACE_WERROR=1 scripts/venv.sh \
	    "$$(scripts/find-pythons.sh | head -n 1)" test); \
	$(MEMCHECK)

bench:
	@scripts/bench.sh $(BENCH_ARGS)

bench-quick:
	@scripts/bench.sh --quick $(BENCH_ARGS)

clean:
	rm -rf .venv build src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
