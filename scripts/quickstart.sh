#!/usr/bin/env bash
# One command for a newcomer: install everything, build the agents, and run the main job (agents under limits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-system.sh
bash scripts/services/install.sh   # the servers `npm test` starts for its integration tests
# Node 22 or newer: without one on PATH, the current LTS (official build, into .tools/); export the same PATH to keep using it.
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  PATH="$(bash scripts/install-node.sh 24):$PATH"
  export PATH
  echo "[quickstart] using $(node --version) from $(dirname "$(command -v node)")" >&2
fi
npm install --no-audit --no-fund
npm run build:agents

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@" || true; }
step npx sandbox run agents/build/vowels.wasm --input '{"text":"Hello World"}'
step npx sandbox run agents/build/triage.wasm --input '{"ts":1,"level":"error","service":"db","msg":"connection refused"}'
step npx sandbox run agents/build/fib.wasm --input '{"n":25}'
step npx sandbox run fixtures/build/loop-forever.wasm --timeout 100 --fuel 0
step npx sandbox run fixtures/build/loop-forever.wasm --fuel 1000000
step npx sandbox run fixtures/build/grow-memory-forever.wasm --memory 1MiB
step npx sandbox run components/build/echo-component.wasm --input '{"hello":"component"}'
echo world | step npx sandbox run agents/build/hello-wasi.wasm
# One hibernating counter per customer; run it twice and the counts continue from the store (examples/counters.state).
step npx sandbox serve examples/counters.yaml --ingest examples/orders.ndjson --topic orders.placed --key customer --once
step npx sandbox demo
