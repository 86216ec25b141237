# Entry points: `make demo` traces an example, `make test` runs the linters
# and the whole suite on every Python >= 3.12 found and on 3.14/3.15 (set
# PYTHON=... to pick one), then `make memcheck` and `make asan` on the
# first; `make bench` measures tracing overhead (`make bench-quick`: under a
# minute). For day-to-day work: `make dev` (editable install and pre-commit
# hooks), `make test-fast` (one Python, nothing else) and `make lint`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

.PHONY: demo test test-fast lint dev memcheck asan bench bench-quick clean

demo:
	@py=$$(scripts/venv.sh "$$(scripts/find-pythons.sh | head -n 1)"); \
	"$$py" examples/demo.py

# scripts/test.sh: lint, every host Python >= 3.12, then 3.14 and 3.15
# from a cached Debian sid chroot where the host lacks them, then memcheck
# and an ASan+UBSan run of the whole suite on the first host interpreter.
test:
	@scripts/test.sh

# The suite on one interpreter (the first found, or PYTHON=...), spread
# over the cores with pytest-xdist when it is installed; no lint, memcheck,
# ASan or chroot (scripts/test-fast.sh). PYTEST_ARGS=... passes more
# arguments to pytest.
test-fast:
	@scripts/test-fast.sh $(PYTEST_ARGS)

# ruff check, ruff format --check and mypy --strict (scripts/lint.sh).
lint:
	@scripts/lint.sh

# An editable install with the test extras into .venv/<version>/ (Python
# edits take effect at once; C edits need `make dev` again), and the
# pre-commit hooks of .pre-commit-config.yaml in this clone.
dev:
	@py=$$(scripts/venv.sh "$$(scripts/find-pythons.sh | head -n 1)" test); \
	"$$py" -m pip --disable-pip-version-check -q install --no-build-isolation -e ".[test]"; \
	"$$(dirname "$$py")/pre-commit" install

# valgrind memcheck over the core and hostile tests, one interpreter: any
# memory error, or a leak from monitrace._core, fails.
memcheck:
	@scripts/memcheck.sh "$$(MONITRACE_WERROR=1 scripts/venv.sh \
	    "$$(scripts/find-pythons.sh | head -n 1)" test)"

# The whole suite against an AddressSanitizer + UBSan build (gcc's runtime).
asan:
	@scripts/asan.sh "$$(scripts/find-pythons.sh | head -n 1)"

bench:
	@scripts/bench.sh $(BENCH_ARGS)

bench-quick:
	@scripts/bench.sh --quick $(BENCH_ARGS)

clean:
	rm -rf .venv build src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
