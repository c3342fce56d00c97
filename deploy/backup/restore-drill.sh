#!/usr/bin/env bash
# Restore drill: prove the newest backup (or the dump given) can be brought back.
#
#   deploy/backup/restore-drill.sh [dump]
#
# Restores the dump into a fresh database (wardline_drill_<time>) on the server of
# DATABASE_URL, runs `flask db upgrade` on it (the code may be newer than the dump) and the
# health checks (`flask health`: /healthz and /readyz, not counting the outbox lag, since
# a restored outbox is as old as the dump), prints a few row counts, and drops the drill
# database again (DRILL_KEEP=1 keeps it). Exits non-zero when any step fails.
# Run from the code's folder with the app's environment (see the README's "Backups").
set -euo pipefail

: "${DATABASE_URL:?DATABASE_URL is not set (source /etc/wardline/wardline.env)}"
dir="${BACKUP_DIR:-/var/backups/wardline}"
dump="${1:-}"
if [ -z "$dump" ]; then
  dump="$(find "$dir" -maxdepth 1 -name 'wardline-*.dump' 2>/dev/null | sort | tail -n 1 || true)"
  [ -n "$dump" ] || { echo "drill: no wardline-*.dump in $dir" >&2; exit 1; }
fi
[ -r "$dump" ] || { echo "drill: cannot read $dump" >&2; exit 1; }
flask="${FLASK:-flask}"
export FLASK_APP="${FLASK_APP:-wsgi:app}"

name="wardline_drill_$(date -u +%Y%m%d%H%M%S)_$$"
# The server of DATABASE_URL: its maintenance database, and the drill database's URL.
base="$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')"
server="$(printf '%s' "$base" | sed -E 's#^(postgresql://[^/]*)/[^?]*#\1/postgres#')"
drill="$(printf '%s' "$base" | sed -E "s#^(postgresql://[^/]*)/[^?]*#\\1/$name#")"

cleanup() {
  if [ "${DRILL_KEEP:-0}" != 1 ]; then
    psql --quiet --no-psqlrc --dbname="$server" \
      --command="DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null || true
  else
    echo "drill: kept database $name"
  fi
}
trap cleanup EXIT

echo "drill: restoring $dump into $name"
psql --quiet --no-psqlrc --set=ON_ERROR_STOP=1 --dbname="$server" --command="CREATE DATABASE \"$name\""
pg_restore --no-owner --no-privileges --exit-on-error --dbname="$drill" "$dump"

echo "drill: flask db upgrade"
DATABASE_URL="$drill" "$flask" db upgrade

echo "drill: health checks"
DATABASE_URL="$drill" "$flask" health --ignore outbox

psql --no-psqlrc --tuples-only --no-align --dbname="$drill" --command="
  SELECT 'drill: ' || (SELECT count(*) FROM boroughs) || ' boroughs, '
      || (SELECT count(*) FROM wards) || ' wards, '
      || (SELECT count(*) FROM users) || ' users, '
      || (SELECT count(*) FROM deliveries) || ' deliveries'"
echo "drill: restore of $(basename "$dump") passed"
