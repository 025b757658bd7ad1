#!/usr/bin/env bash
# End-to-end checks of the `hotpatch` CLI on real patch objects: exit codes (0 ok, 1 refused,
# 2 usage) and what the messages say.  Usage: cli_test.sh HOTPATCH C_ADD_V1.so C_ADD_V2.so OTHER.so
set -u
hotpatch=$1 v1=$2 v2=$3 other=$4
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

# expect RC TEXT CMD...: runs CMD, requires exit code RC and TEXT in its output.
expect() {
  local rc=$1 text=$2
  shift 2
  local out got
  out=$("$@" 2>&1)
  got=$?
  if [[ $got -ne $rc || "$out" != *"$text"* ]]; then
    echo "FAIL: $* -> exit $got (want $rc), output:"
    echo "$out"
    echo "(wanted text: $text)"
    failures=$((failures + 1))
  fi
}

for sub in keygen publish verify list inspect; do
  expect 0 "Usage:" "$hotpatch" "$sub" --help
done
expect 2 "A subcommand is required" "$hotpatch"
expect 0 "hotpatch " "$hotpatch" --version
# verify and list run in hotpatch-registry, at ../libexec/hotpatch/ from the tool: a tool copied
# away from it says so instead of failing silently.
mkdir -p alone/bin
cp "$hotpatch" alone/bin/hotpatch
expect 1 "alone/libexec/hotpatch/hotpatch-registry: cannot be run (No such file or directory): \`hotpatch verify\` runs in this program, installed with hotpatch" \
  alone/bin/hotpatch verify --registry r --pubkey k --name n
expect 0 "Usage:" alone/bin/hotpatch status --help
expect 2 "--registry is required" "$hotpatch" publish --key k
expect 0 "key id" "$hotpatch" keygen
expect 2 "hotpatch.key: already exists; pass --force to replace it" "$hotpatch" keygen
[[ $(stat -c %a hotpatch.key) == 600 ]] || { echo "FAIL: secret key mode $(stat -c %a hotpatch.key)"; failures=$((failures + 1)); }

expect 0 "replaces: " "$hotpatch" inspect "$v1"
expect 0 '"target"' "$hotpatch" inspect --json "$v1"
echo "not an elf" > bogus.so
expect 1 "bogus.so: not a patch object" "$hotpatch" inspect bogus.so

expect 2 "reg: is a new registry; give it a name" "$hotpatch" publish --registry reg --key hotpatch.key "$v1"
expect 0 "index version 1" "$hotpatch" publish --registry reg --key hotpatch.key --name demo "$v1" "$other"
expect 0 "index version 2" "$hotpatch" publish --registry reg --key hotpatch.key "$v2"
expect 1 "would be a downgrade [version_not_newer]" "$hotpatch" publish --registry reg --key hotpatch.key "$v1"
expect 0 "OK: registry 'demo' index version 2" "$hotpatch" verify --registry reg --pubkey hotpatch.pub --name demo
expect 0 '"ok": true' "$hotpatch" verify --registry "file://$work/reg" --pubkey "$(tail -n1 hotpatch.pub)" --name demo --json
expect 0 "version 2" "$hotpatch" list --registry reg --pubkey hotpatch.pub --name demo
expect 0 '"patches"' "$hotpatch" list --registry reg --pubkey hotpatch.pub --name demo --json

# Staged rollout: a share of hosts for a published patch, then every host.
expect 2 "--rollout: names no patch: give patch files or --id" "$hotpatch" publish --registry reg --key hotpatch.key --rollout 10%
expect 2 "--rollout: '0%' is not a share from 1% to 100% [invalid_argument]" "$hotpatch" publish --registry reg --key hotpatch.key --rollout 0% --id c-add
expect 2 "c-absent: is not in registry 'demo': nothing to stage [invalid_argument]" "$hotpatch" publish --registry reg --key hotpatch.key --rollout 10% --id c-absent
expect 0 "c-add version 2: staged to 10% of hosts" "$hotpatch" publish --registry reg --key hotpatch.key --rollout 10% --id c-add
grep -q '"schema": 2' reg/index/*.json || { echo "FAIL: a staged index is not schema 2"; failures=$((failures + 1)); }
expect 0 "staged: 10% of hosts" "$hotpatch" list --registry reg --pubkey hotpatch.pub --name demo
expect 0 "index version 4" "$hotpatch" publish --registry reg --key hotpatch.key --rollout 100% --id c-add

expect 1 "but this client trusts registry 'prod' [integrity]" "$hotpatch" verify --registry reg --pubkey hotpatch.pub --name prod
"$hotpatch" keygen -s other.key -p other.pub > /dev/null
expect 1 "which is not a trusted key [untrusted_key]" "$hotpatch" list --registry reg --pubkey other.pub --name demo
expect 1 "not with this key" "$hotpatch" publish --registry reg --key other.key "$v2"
expect 2 "is neither a public key file nor a key line" "$hotpatch" list --registry reg --pubkey nonsense --name demo
expect 1 "[network]" "$hotpatch" list --registry "$work/absent" --pubkey hotpatch.pub --name demo

# Tamper with every blob (which ones the current index still lists depends on the build).
mkdir -p saved
cp reg/blobs/sha256/*.so saved/
for blob in reg/blobs/sha256/*.so; do printf 'X' | dd of="$blob" bs=1 seek=64 conv=notrunc 2>/dev/null; done
expect 1 "the signed index says" "$hotpatch" verify --registry reg --pubkey hotpatch.pub --name demo
cp saved/*.so reg/blobs/sha256/

# Debian's minisign accepts what publish signed, with the key keygen made: the index and each blob.
if command -v minisign > /dev/null; then
  sha=$(grep -o 'sha256:[0-9a-f]*' reg/index.minisig | cut -d: -f2)
  expect 0 "Signature and comment signature verified" minisign -V -p hotpatch.pub -m "reg/index/$sha.json" -x reg/index.minisig
  for blob in reg/blobs/sha256/*.so; do
    expect 0 "Signature and comment signature verified" minisign -V -p hotpatch.pub -m "$blob" -x "$blob.minisig"
  done
fi

if [[ $failures -ne 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
