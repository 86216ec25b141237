# Entry points: `make demo` traces an example, `make test` runs the whole
# suite on every Python >= 3.12 found (set PYTHON=... to pick one), then
# `make memcheck` (the core and hostile tests under valgrind) on the first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHONS = $(shell scripts/find-pythons.sh)

.PHONY: demo test memcheck clean

demo:
	@py=$$(scripts/venv.sh "$$(scripts/find-pythons.sh | head -n 1)"); \
	"$$py" examples/demo.py

test:
	@first=; for p in $(PYTHONS); do \
	    echo "=== tests on $$p"; \
	    py=$$(MONITRACE_WERROR=1 scripts/venv.sh "$$p" test); \
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

clean:
	rm -rf .venv build src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
