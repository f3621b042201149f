#!/usr/bin/env bash
# Checks the Dockerfile where no Docker daemon runs (CI, this test suite):
#  1. the sources its build stage COPYs configure with its own cmake flags and define the targets
#     it builds, so a new top-level folder or a test-only folder cannot break the image build;
#  2. its runtime stage installs, directly or as a dependency, every Debian package whose shared
#     libraries the built binaries load.
# usage: check-dockerfile.sh <source root> <binary>...
# Exit 77 (a skip) when apt has no package lists to resolve dependencies with.
set -euo pipefail
root=$1
shift
dockerfile=$root/Dockerfile
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

stage() {  # the lines of the n-th FROM stage
  awk -v want="$1" '/^FROM /{n++} n==want' "$dockerfile"
}

mkdir -p "$work/src"
while read -r src; do
  cp -r "$root/${src%/}" "$work/src/"
done < <(stage 1 | awk '/^COPY / && !/--from/ {print $2}')

cmake_line=$(stage 1 | grep -E '^RUN cmake -S' -A2 | tr '\n' ' ')
read -r -a flags <<<"$(grep -oE -- '-D[A-Za-z_]+=[A-Za-z0-9_]+' <<<"$cmake_line" | tr '\n' ' ')"
targets=$(grep -oE -- '--target [^&\\]+' <<<"$cmake_line" | sed 's/--target //')
if ! cmake -S "$work/src" -B "$work/build" -G Ninja "${flags[@]}" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log"
  echo "the Dockerfile's sources do not configure with ${flags[*]}" >&2
  exit 1
fi
defined=$(ninja -C "$work/build" -t targets all)
for target in $targets; do
  if ! grep -q "^$target:" <<<"$defined"; then
    echo "the Dockerfile builds '$target', which its sources do not define" >&2
    exit 1
  fi
done
echo "sources configure with ${flags[*]}; targets: $targets"

if ! apt-cache show libc6 >/dev/null 2>&1; then
  echo "no apt package lists on this machine: the runtime stage's packages are not checked" >&2
  exit 77
fi
listed=$(stage 2 | sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' |
         grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|ca-certificates)$' || true)
# shellcheck disable=SC2086
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances $listed 2>/dev/null | grep -v '^ ' | sort -u)
missing=()
for binary in "$@"; do
  while read -r lib; do
    pkg=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "/usr$lib" 2>/dev/null || dpkg -S "${lib#/usr}" 2>/dev/null ||
          true)
    pkg=${pkg%%:*}
    [[ -z $pkg ]] && { echo "no Debian package ships $lib ($binary)" >&2; exit 1; }
    # The C runtime is in the base image.
    [[ $pkg == libc6 || $pkg == libgcc-s1 || $pkg == libstdc++6 ]] && continue
    grep -qxF "$pkg" <<<"$closure" || missing+=("$pkg ($(basename "$binary"))")
  done < <(ldd "$binary" | awk '/=> \// {print $3}')
done
if ((${#missing[@]})); then
  printf 'the runtime stage does not install %s\n' "${missing[@]}" | sort -u >&2
  exit 1
fi
echo "runtime stage covers the libraries of: $*"
