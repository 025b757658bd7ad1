#!/usr/bin/env bash
# What a Debian user installs: `cpack -G DEB` in the build directory gives hotpatch_<version>_amd64.deb
# with the tool, the libraries, headers, the CMake package, pkg-config files and the man page. Its
# hotpatch runs from a scratch root (dpkg -x) without LD_LIBRARY_PATH, and a C++-only project
# binds a patch to a program it did not build (TARGET_FILE) with find_package(hotpatch) from there.
set -euo pipefail
build=$1
other_program=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
deb="$work/hotpatch_${version}_amd64.deb"
[[ -f "$deb" ]] || fail "no $deb: $(ls "$work")"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/hotpatch ./usr/libexec/hotpatch/hotpatch-registry ./usr/lib/libhotpatch.so.0 \
         ./usr/lib/libhotpatch-registry.so.0 ./usr/include/hotpatch/hotpatch.h ./usr/include/hotpatch/version.h \
         ./usr/lib/cmake/hotpatch/hotpatchConfig.cmake ./usr/lib/pkgconfig/hotpatch.pc \
         ./usr/share/man/man1/hotpatch.1 ./usr/lib/systemd/system/hotpatch-agent.service \
         ./usr/share/doc/hotpatch/agent.conf.example; do
  grep -q " $f\( \|$\)" <<< "$contents" || fail "$f is not in the package"
done
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libsodium23 libelf1 libzydis; do
  grep -q "$lib" <<< "$depends" || fail "Depends lacks $lib: $depends"
done

root="$work/root"
dpkg -x "$deb" "$root"
out=$(env -u LD_LIBRARY_PATH "$root/usr/bin/hotpatch" --version) || fail "the packaged hotpatch does not start"
[[ "$out" == "hotpatch $version" ]] || fail "--version says '$out'"
# The agent runs in the registry helper under libexec, and finds the runtime it attaches with from there.
env -u LD_LIBRARY_PATH "$root/usr/bin/hotpatch" agent --help | grep -q -- "--health-command" ||
  fail "the packaged hotpatch agent does not start"
grep -q "^ExecStart=/usr/bin/hotpatch agent --config /etc/hotpatch/agent.conf$" \
  "$root/usr/lib/systemd/system/hotpatch-agent.service" || fail "the agent's unit does not start the agent"
# The registry library finds the runtime beside it, under any prefix.
ldd "$root/usr/lib/libhotpatch-registry.so.0" | grep -q "libhotpatch.so.0 => $root/usr/lib/" ||
  fail "libhotpatch-registry does not find libhotpatch beside it: $(ldd "$root/usr/lib/libhotpatch-registry.so.0")"
# The .pc files name their prefix relative to themselves: right under /usr as under a scratch root.
pc=$(PKG_CONFIG_PATH="$root/usr/lib/pkgconfig" pkg-config --cflags --libs hotpatch)
[[ "$pc" == *"-I$root/usr/lib/pkgconfig/../../include"* && "$pc" == *"-L$root/usr/lib/pkgconfig/../../lib"* &&
   "$pc" == *"-lhotpatch"* ]] || fail "pkg-config says '$pc'"

cmake -S "$source_dir/tests/integration/package_deb" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$root/usr" \
  -DOTHER_PROGRAM="$other_program" >"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; fail "configure"; }
cmake --build "$work/consumer" >>"$work/consumer.log" 2>&1 || { cat "$work/consumer.log"; fail "build"; }
shown=$("$root/usr/bin/hotpatch" inspect "$work/consumer/fix_for_other.so")
want=$(readelf -n "$other_program" | sed -n 's/.*Build ID: //p')
grep -q "$want" <<< "$shown" || fail "the patch is not bound to $other_program ($want): $shown"
grep -q "other-fix" <<< "$shown" || fail "inspect does not show the patch id: $shown"
echo "package: ok ($deb)"
