# Entry points: `make demo` traces an example, `make test` runs the whole
# suite on every Python >= 3.12 found (set PYTHON=... to pick one).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHONS = $(shell scripts/find-pythons.sh)

.PHONY: demo test clean

demo:
	@py=$$(scripts/venv.sh "$$(scripts/find-pythons.sh | head -n 1)"); \
	"$$py" examples/demo.py

test:
	@for p in $(PYTHONS); do \
	    echo "=== tests on $$p"; \
	    py=$$(MONITRACE_WERROR=1 scripts/venv.sh "$$p" test); \
	    "$$py" -m pytest -q -p no:cacheprovider || exit 1; \
	done

clean:
	rm -rf .venv build src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
