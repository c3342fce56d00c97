#!/usr/bin/env bash
# Nightly backup of Wardline's PostgreSQL database: `pg_dump --format=custom` of
# DATABASE_URL into BACKUP_DIR (default /var/backups/wardline) as
# wardline-<UTC time>.dump, checked readable with `pg_restore --list`, keeping the
# BACKUP_KEEP newest dumps (default 14). Run by deploy/systemd/wardline-backup.timer
# with /etc/wardline/wardline.env; exits non-zero (and keeps the older dumps) on failure.
#
# Not in the dump, on purpose: the keys in WARDLINE_INSTANCE_PATH and the environment file
# (TOTP_ENCRYPTION_KEY, SECRET_KEY, BLOCKLIST_KEY, VAPID_PRIVATE_KEY). Keep those
# apart from the dumps (a password manager, a sealed envelope): a stolen dump without
# them holds no officer's second factor.
set -euo pipefail

: "${DATABASE_URL:?DATABASE_URL is not set (source /etc/wardline/wardline.env)}"
dir="${BACKUP_DIR:-/var/backups/wardline}"
keep="${BACKUP_KEEP:-14}"
# SQLAlchemy's postgresql+psycopg:// is libpq's postgresql://
url="$(printf '%s' "$DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[a-z0-9]+)?://#postgresql://#')"

umask 077
mkdir -p "$dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
part="$dir/.wardline-$stamp.dump.part"
trap 'rm -f "$part"' EXIT
pg_dump --format=custom --no-owner --no-privileges --dbname="$url" --file="$part"
pg_restore --list "$part" >/dev/null
mv "$part" "$dir/wardline-$stamp.dump"
echo "backup: $dir/wardline-$stamp.dump ($(du -h "$dir/wardline-$stamp.dump" | cut -f1))"

# Retention: the names sort by time; remove all but the newest $keep.
mapfile -t old < <(find "$dir" -maxdepth 1 -name 'wardline-*.dump' -printf '%f\n' | sort -r | tail -n +"$((keep + 1))")
for name in "${old[@]}"; do
  rm -f -- "$dir/$name"
  echo "backup: removed $dir/$name (keeping $keep)"
done
