#!/bin/sh
# Interleaved A/B of bench/profile_pages.py, page by page: the code in $1 (e.g. an export
# of main with this checkout's bench/profile_pages.py copied in) against this checkout,
# $2 rounds, on the database $3 kept by `bench/profile_pages.py --keep`; further arguments
# go to profile_pages.py. Prints "page | base ms | this ms" per run; compare the minima.
set -e
BASE=$1; ROUNDS=${2:-3}; DB=$3; shift 3
HERE=$(cd "$(dirname "$0")/.." && pwd)
PAGES="healthz|ward home, visitor|ward home, resident|alert page, visitor|alert page, resident|meeting page|ics|Atom|conversation|/messages|/meetings, resident|settings|inbox"
for i in $(seq "$ROUNDS"); do
  echo "$PAGES" | tr '|' '\n' | while read -r page; do
    a=$(cd "$BASE" && "$HERE/.venv/bin/python" bench/profile_pages.py --database-url "$DB" --only "$page" "$@" | grep '^| [^-p]' | cut -d'|' -f2,3)
    b=$(cd "$HERE" && .venv/bin/python bench/profile_pages.py --database-url "$DB" --only "$page" "$@" | grep '^| [^-p]' | cut -d'|' -f3)
    echo "round $i |$a|$b"
  done
done
