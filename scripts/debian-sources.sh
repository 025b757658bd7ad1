#!/usr/bin/env bash
# Makes `apt-get source` work: adds deb-src entries for the Debian archive this machine already
# uses (the URIs and suites of its deb entries) and refreshes the package lists. As root; otherwise
# it prints what to run. Idempotent.
set -euo pipefail
list=/etc/apt/sources.list.d/hotpatch-deb-src.sources
if apt-get indextargets --format '$(CREATED_BY)' 2>/dev/null | grep -q '^Sources$'; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "apt-get source needs deb-src entries; as root, run: $0" >&2
  exit 1
fi
entries=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f $f && $f != "$list" ]] || continue
  # deb822 stanzas: keep those of type deb from deb.debian.org-style archives, as deb-src.
  entries+=$(awk 'BEGIN{RS=""; ORS="\n\n"} /Types:[^\n]*deb/ && !/deb-src/ && /URIs:[^\n]*debian/ {sub(/Types:[^\n]*/, "Types: deb-src"); print}' "$f")
  entries+=$'\n'
done
if [[ -f /etc/apt/sources.list ]]; then
  while read -r type rest; do
    [[ $type == deb ]] && entries+=$'\n'"Types: deb-src"$'\n'"URIs: $(awk '{print $1}' <<<"$rest")"$'\n'"Suites: $(awk '{print $2}' <<<"$rest")"$'\n'"Components: $(cut -d' ' -f3- <<<"$rest")"$'\n'
  done < <(grep -E '^deb ' /etc/apt/sources.list | grep -v '\[' || true)
fi
if [[ -z ${entries//[$'\n ']/} ]]; then
  echo "no Debian deb entry to derive deb-src entries from" >&2
  exit 1
fi
printf '%s\n' "$entries" >"$list"
apt-get update -qq
