#!/usr/bin/env bash
# scripts/venv.sh PYTHON [EXTRAS]: make (or reuse) .venv/<X.Y> for PYTHON,
# install the package from this tree into it (rebuilding the extension every
# time) and print the venv's python. EXTRAS is e.g. "test". MONITRACE_VENV
# names another venv, .venv/<MONITRACE_VENV>-<X.Y> (benchmarks use "bench").
set -euo pipefail
py=$1
extras=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv="$here/.venv/${MONITRACE_VENV:+$MONITRACE_VENV-}$ver"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" >&2
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install "setuptools>=69" wheel >&2
spec="$here"
[ -n "$extras" ] && spec="$here[$extras]"
# Dependencies first (cached after the first run), then always rebuild ours.
"${pip[@]}" install "$spec" >&2
"${pip[@]}" install --force-reinstall --no-deps --no-build-isolation "$here" >&2 2>/dev/null \
    || "${pip[@]}" install --force-reinstall --no-deps "$here" >&2
echo "$venv/bin/python"
