#!/usr/bin/env bash
# Installs the Debian packages hotpatch needs to build, test and run its demo.
# As root it runs apt-get itself; otherwise it prints the exact command to run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libzydis-dev libelf-dev libdw-dev libunwind-dev
  libcurl4-openssl-dev libsodium-dev nlohmann-json3-dev
  libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  minisign nginx-light doxygen help2man patch
  nginx-dev libpcre2-dev zlib1g-dev wrk curl
  redis-server redis-tools bear dpkg-dev python3
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
  echo "hotpatch needs these Debian packages: ${missing[*]}" >&2
  echo "run as root:  apt-get update && ${cmd[*]}" >&2
  exit 1
fi

echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
"${cmd[@]}"
