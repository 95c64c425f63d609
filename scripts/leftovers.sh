#!/usr/bin/env bash
# Fail when a run leaves or changes files in the working tree (tests must write only under
# their temporary folders). `make test` takes a snapshot before it starts the clusters and
# checks it after it has stopped them, so output of late-running jobs is caught as well.
#
#   scripts/leftovers.sh snapshot FILE   record every path of the working tree, size and mtime
#   scripts/leftovers.sh check FILE      compare with FILE: list what was added, removed or
#                                        changed, and exit 1 if anything was
#
# Left out, because the make itself makes or refreshes them: .git, the virtual environments
# (.venv, .venv-bench, .venv-xyzpy),
# build/ (the clusters' state and logs, the docs site, the snapshot itself), tool caches,
# __pycache__ and *.egg-info. Tracked, untracked and git-ignored files all count, so that
# .gitignore cannot hide a leftover.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd -P)

# one line per path, tab-separated: "d PATH" for a folder, "f PATH SIZE MTIME" otherwise
listing() {
    cd "$here"
    find . \( -path ./.git -o -path ./.venv -o -path ./.venv-bench -o -path ./.venv-xyzpy -o -path ./build \
        -o -name __pycache__ -o -name .mypy_cache -o -name .ruff_cache -o -name .pytest_cache \
        -o -name '*.egg-info' \) -prune \
        -o -path . -o -type d -printf 'd\t%P\n' -o -printf 'f\t%P\t%s\t%T@\n' | LC_ALL=C sort
}

cmd=${1:-}
file=${2:-}
[ -n "$file" ] || { echo "usage: $0 snapshot|check FILE" >&2; exit 2; }
case "$cmd" in
    snapshot)
        mkdir -p "$(dirname "$file")"
        listing > "$file.tmp"
        mv "$file.tmp" "$file"
        ;;
    check)
        [ -f "$file" ] || { echo "leftovers: no snapshot $file; take one first" >&2; exit 2; }
        after=$(mktemp)
        trap 'rm -f "$after"' EXIT
        listing > "$after"
        # a path is reported once: "changed" when it is in both lists with other details
        report=$({ LC_ALL=C diff "$file" "$after" || true; } | awk '
            /^< / { split(substr($0, 3), a, "\t"); old[a[2]] = 1 }
            /^> / { split(substr($0, 3), a, "\t"); new[a[2]] = 1 }
            END {
                for (p in new) print (p in old ? "  changed  " : "  added    ") p
                for (p in old) if (!(p in new)) print "  removed  " p
            }' | LC_ALL=C sort -k2)
        if [ -n "$report" ]; then
            echo "leftovers: the run changed the working tree $here" >&2
            echo "(tests must write only under their tmp folder; find the test that does this):" >&2
            echo "$report" >&2
            exit 1
        fi
        ;;
    *) echo "usage: $0 snapshot|check FILE" >&2; exit 2 ;;
esac
