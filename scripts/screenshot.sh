#!/usr/bin/env bash
# Renders an HTML report in headless Chromium and saves a PNG screenshot.
# Usage: scripts/screenshot.sh REPORT.html OUT.png [WIDTHxHEIGHT]
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
html=$(realpath "$1"); out=$(realpath -m "$2"); size=${3:-1200,3000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then echo "chromium not found: apt-get install chromium" >&2; exit 2; fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$size" \
  --screenshot="$out" "file://$html" >/dev/null 2>&1
test -s "$out" && echo "wrote $out"
