#!/usr/bin/env bash
# The locks install on every supported Python (3.11, 3.12, 3.13): for each interpreter found,
# a clean venv gets the hashed lock(s) and the project with --no-deps, then `manage.py check`
# and the embedded Redis's binary are tried in it.
#
#   .ci/check-pythons.sh                    runtime + embedded locks (the production install)
#   .ci/check-pythons.sh --dev              the dev lock too (what the bootstrap installs)
#
# Interpreters: pyenv's (~/.pyenv/versions/3.X.*), else python3.X on PATH. A missing one is
# reported and fails the run (CC_PYTHONS="3.11 3.12" narrows the list). Installs with uv (the
# dev extra) when present, else pip.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
uv="${CC_VENV:-.venv}/bin/uv"
locks=(.ci/requirements.lock)
[[ "${1:-}" == "--dev" ]] && locks=(.ci/requirements-dev.lock)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_python() {  # find_python 3.12 -> path of a working interpreter, or nothing
    local candidate
    for candidate in "$HOME"/.pyenv/versions/"$1".*/bin/python"$1" "$(command -v "python$1")"; do
        # pyenv's shims exist for every version and fail for the ones not selected: try it.
        if [[ -x "$candidate" ]] && "$candidate" -c 'import venv' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

failed=()
for version in ${CC_PYTHONS:-3.11 3.12 3.13}; do
    start=$SECONDS
    if ! python=$(find_python "$version"); then
        echo "--- Python $version: no interpreter found" >&2
        failed+=("$version (missing)")
        continue
    fi
    venv="$work/py$version"
    # Not `if ! ( … )`: bash ignores `set -e` inside a condition, so a failed install would pass.
    set +e
    (
        set -e
        if [[ -x "$uv" ]]; then
            "$uv" venv --quiet --python "$python" "$venv"
            install=("$uv" pip install --quiet --python "$venv/bin/python")
        else
            "$python" -m venv "$venv"
            install=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
        fi
        for lock in "${locks[@]}"; do
            "${install[@]}" --require-hashes -r "$lock"
        done
        "${install[@]}" --require-hashes --no-deps -r .ci/requirements-embedded.lock
        "${install[@]}" --no-deps "$root"
        cd "$work"
        DEBUG=on CC_VAR_DIR="$work/var$version" DATABASE_URL="sqlite:///$work/db$version.sqlite3" \
            DJANGO_SETTINGS_MODULE=cc_rules.settings "$venv/bin/python" -m django check >/dev/null
        "$venv/bin/python" -c "from cc_rules.embedded_redis import redis_server_binary as b; \
import subprocess; print(subprocess.run([b(), '--version'], capture_output=True, text=True).stdout.split()[2])"
    )
    status=$?
    set -e
    if ((status != 0)); then
        failed+=("$version")
        echo "--- Python $version ($python): FAILED" >&2
        continue
    fi
    echo "--- Python $version ($("$python" -V 2>&1)): locks installed, check passed, $((SECONDS - start)) s"
done

if ((${#failed[@]})); then
    echo "install failed on Python: ${failed[*]}" >&2
    exit 1
fi
