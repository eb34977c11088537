#!/bin/sh
# Renders a run's report and photographs it in headless Chromium, to check
# by eye that the page looks right (plots drawn, sections in place).
#
#   scripts/report-screenshot.sh RUN_DIR [OUT.png] [HEIGHT]
#
# Needs bin/azr-native (make) and Chromium: apt-get install -y chromium.
# The page is opened from the file system with the network off, the way a
# reader opens a report they were sent; a page that needed the network would
# show missing images here.
set -eu
run=${1:?usage: $0 RUN_DIR [OUT.png] [HEIGHT]}
out=${2:-/tmp/azr-report.png}
height=${3:-4000}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${AZR_BIN:-$here/bin/azr-native}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
	echo "no Chromium found: apt-get install -y chromium" >&2
	exit 1
fi
page=$("$bin" --log-level warn report "$run")
# Headless Chromium as root needs --no-sandbox; a throwaway profile keeps
# the user's own untouched. The proxy to nowhere blocks every network fetch.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--user-data-dir="$profile" --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
	--window-size=1400,"$height" --screenshot="$out" "file://$(realpath "$page")" >/dev/null 2>&1
echo "$out"
