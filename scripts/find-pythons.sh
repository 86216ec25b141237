#!/usr/bin/env bash
# Print the interpreters (one path a line) that the project builds and tests
# with: $PYTHON alone if set, else every Python >= 3.12 found on PATH or in
# pyenv. A candidate counts only if it actually runs (pyenv shims for versions
# that are not selected fail) and has sys.monitoring.
set -u
ok() { "$1" -c 'import sys; sys.exit(not (sys.version_info >= (3, 12)))' >/dev/null 2>&1; }
real() { "$1" -c 'import sys; print(sys.executable)' 2>/dev/null; }

if [ -n "${PYTHON:-}" ]; then
    if ok "$PYTHON"; then real "$PYTHON"; exit 0; fi
    echo "PYTHON=$PYTHON is not a runnable Python >= 3.12" >&2
    exit 1
fi

found=()
add() {
    local p
    p=$(real "$1") || return 0
    [ -n "$p" ] || return 0
    local major_minor
    major_minor=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    for f in "${found[@]:-}"; do
        [ -z "$f" ] && continue
        [ "$("$f" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$major_minor" ] && return 0
    done
    found+=("$p")
}
for v in 3.15 3.14 3.13 3.12; do
    if command -v "python$v" >/dev/null 2>&1 && ok "python$v"; then add "python$v"; fi
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for d in "$root"/versions/3.1[2-9]*; do
    [ -x "$d/bin/python3" ] && ok "$d/bin/python3" && add "$d/bin/python3"
done
if [ ${#found[@]} -eq 0 ]; then
    echo "no Python >= 3.12 found: set PYTHON=/path/to/python3.12" >&2
    exit 1
fi
printf '%s\n' "${found[@]}"
