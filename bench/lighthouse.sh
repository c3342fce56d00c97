#!/usr/bin/env bash
# Lighthouse (mobile profile) on a signed-in resident's ward home and one conversation.
#
#   bench/lighthouse.sh            # prints category scores and first-load transfer sizes
#
# Starts its own throwaway Wardline (bench/serve_demo.py: fresh SQLite, London's wards,
# demo seeders, one resident with a conversation), installs the pinned Lighthouse into
# bench/node_modules with `npm ci` when needed, and drives Debian's Chromium.
# Reports land in bench/out/ (git-ignored). Targets: performance >= 95, accessibility 100,
# best practices 100, ward home first load <= 60 KB transferred.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BENCH=$ROOT/bench
OUT=$BENCH/out
PY=${PYTHON:-$ROOT/.venv/bin/python}
CHROME=${CHROME_PATH:-/usr/lib/chromium/chromium}
[ -x "$CHROME" ] || CHROME=$(command -v chromium)
mkdir -p "$OUT"

if [ ! -x "$BENCH/node_modules/.bin/lighthouse" ] || [ "$BENCH/package-lock.json" -nt "$BENCH/node_modules/.package-lock.json" ]; then
  (cd "$BENCH" && npm ci --no-audit --no-fund --loglevel=error)
fi

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
INFO=$OUT/demo.json
rm -f "$INFO"
"$PY" "$BENCH/serve_demo.py" "$PORT" "$INFO" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  [ -s "$INFO" ] && break
  kill -0 "$SERVER" 2>/dev/null || { echo "demo server failed:"; cat "$OUT/server.log"; exit 1; }
  sleep 0.5
done
[ -s "$INFO" ] || { echo "demo server did not start"; exit 1; }

field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]] or "")' "$INFO" "$1"; }
BASE=$(field base_url)
COOKIE=$(field cookie)
HEADERS=$("$PY" -c 'import json,sys; print(json.dumps({"Cookie": sys.argv[1]}))' "$COOKIE")

run() {  # run NAME PATH
  local name=$1 path=$2
  CHROME_PATH=$CHROME "$BENCH/node_modules/.bin/lighthouse" "$BASE$path" \
    --quiet --output=json --output=html --output-path="$OUT/$name" \
    --extra-headers="$HEADERS" \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage" >/dev/null
  "$PY" - "$OUT/$name.report.json" "$name" "$path" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
scores = {k: round(c["score"] * 100) for k, c in report["categories"].items()}
items = report["audits"]["network-requests"]["details"]["items"]
page = [i for i in items if not i.get("fromServiceWorker")]
total = sum(i.get("transferSize", 0) for i in page)
print(f"{sys.argv[2]} ({sys.argv[3]}): " + ", ".join(f"{k} {v}" for k, v in scores.items()))
print(f"  first load: {len(page)} requests, {total / 1024:.1f} KB transferred "
      f"(total-byte-weight {report['audits']['total-byte-weight']['numericValue'] / 1024:.1f} KB); "
      f"LCP {report['audits']['largest-contentful-paint']['displayValue']}, "
      f"TBT {report['audits']['total-blocking-time']['displayValue']}, "
      f"CLS {report['audits']['cumulative-layout-shift']['displayValue']}")
for cat in ("accessibility", "best-practices"):
    for ref in report["categories"][cat]["auditRefs"]:
        audit = report["audits"][ref["id"]]
        if ref["weight"] and audit["score"] is not None and audit["score"] < 1:
            print(f"  {cat}: {ref['id']}: {audit['title']}")
EOF
}

echo "Lighthouse $("$BENCH/node_modules/.bin/lighthouse" --version), $("$CHROME" --version 2>/dev/null | head -1), mobile profile"
run ward-home "$(field ward_home)"
CONV=$(field conversation)
if [ -n "$CONV" ]; then run conversation "$CONV"; else echo "conversation: none (threads not available)"; fi
echo "Reports: $OUT/*.report.html"
