#!/usr/bin/env bash
# Installs the Debian packages the build needs: rustc + cargo + the wasm32 standard library + lld for the Rust agents
# (cargo builds `sandbox new --lang rust` projects), curl + openssl for scripts/install-node.sh, and chromium for the
# dashboard's browser test (test/integration/dashboard.test.ts drives it headless).
# Idempotent; uses sudo when not root.
set -euo pipefail

packages=(rustc cargo libstd-rust-dev-wasm32 lld curl ca-certificates openssl chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[install-system] present: ${packages[*]}" >&2
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "[install-system] installing: ${missing[*]}" >&2
as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
