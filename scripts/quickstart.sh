#!/usr/bin/env bash
# One command for a newcomer: install everything, build the agents, and run the main job (agents under limits).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-system.sh
bash scripts/services/install.sh   # the servers `npm test` starts for its integration tests
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
