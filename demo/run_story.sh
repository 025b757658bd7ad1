#!/usr/bin/env bash
# The demo end to end: a fresh signed registry with version 1 of the demo patch; the demo starts,
# updates (u) and patches (p); version 2 is published while it runs; u and p again upgrade it; c quits.
# Usage: run_story.sh BUILD_DIR [INTERVAL_MS]
set -euo pipefail
build=$(cd "$1" && pwd)
interval=${2:-700}
demo="$build/demo/hotpatch-demo"
hotpatch="$build/tools/hotpatch"
work=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; rm -rf "$work"' EXIT

step() { printf '\n\033[1m=== %s ===\033[0m\n' "$*" >&2; }

step "making a signing key and a registry with version 1 of the demo patch"
"$hotpatch" keygen -s "$work/demo.key" -p "$work/demo.pub" >/dev/null
"$hotpatch" publish --registry "$work/registry" --key "$work/demo.key" --name demo \
  "$build/demo/patches/greeting_v1.so" >/dev/null
"$hotpatch" list --registry "file://$work/registry" --name demo --pubkey "$work/demo.pub" >&2

step "starting hotpatch-demo (keys arrive on its standard input)"
mkfifo "$work/keys"
"$demo" --registry "file://$work/registry" --name demo --pubkey "$work/demo.pub" --cache "$work/cache" \
  --interval-ms "$interval" <"$work/keys" &
pid=$!
exec 3>"$work/keys"
pause() { sleep "$(awk "BEGIN { print $interval * 1.6 / 1000 }")"; }
press() { pause; printf '%s' "$1" >&3; }

press u
press p
pause
step "publishing version 2 while the demo runs"
"$hotpatch" publish --registry "$work/registry" --key "$work/demo.key" "$build/demo/patches/greeting_v2.so" >/dev/null
press u
press p
pause
press c
exec 3>&-
wait "$pid"
