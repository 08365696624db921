#!/usr/bin/env bash
# Checks the package as users get it: npm pack → a fresh app → install the tarball → size and install scripts →
# tsc --strict with skipLibCheck false on a typed example → run agents, a topology, the CLI and the emulator under
# --jitless → publint and @arethetypeswrong/cli. Needs dist/ and the example agents built (npm run build:agents).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
max_mb="${SANDBOX_MAX_INSTALL_MB:-25}"
# The check's own tools, pinned; npx fetches them into its cache unless they are installed here.
publint="publint@0.3.25"
attw="@arethetypeswrong/cli@0.18.5"
typescript="typescript@$(node -p 'require("./node_modules/typescript/package.json").version')"
types_node="@types/node@$(node -p 'process.versions.node.split(".")[0]')"

for f in dist/runtime/index.js agents/build/vowels.wasm agents/build/fib.wasm agents/build/triage.wasm; do
  [ -e "$f" ] || { echo "check-package: $f is missing; run npm run build && npm run build:agents" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/sandbox-package-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say() { echo "[check-package] $*"; }

say "npm pack"
npm pack --silent --pack-destination "$work" >/dev/null
tarball="$(ls "$work"/wasm-agent-sandbox-*.tgz)"
say "tarball: $(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) files"

app="$work/app"
mkdir -p "$app"
cd "$app"
cat > package.json <<'JSON'
{ "name": "package-check-app", "version": "1.0.0", "private": true, "type": "module" }
JSON
say "npm install <tarball> into a fresh app"
npm install --no-audit --no-fund --silent "$tarball"

size_mb="$(du -sm node_modules | cut -f1)"
say "core install: ${size_mb} MB in node_modules ($(ls -d node_modules/* node_modules/@*/* 2>/dev/null | grep -v '/@[^/]*$' | wc -l) packages); target ≤ ${max_mb} MB"
if [ "$size_mb" -gt "$max_mb" ]; then
  du -sm node_modules/* node_modules/@*/* 2>/dev/null | sort -rn | head -10
  echo "check-package: the core install is ${size_mb} MB, over ${max_mb} MB" >&2
  exit 1
fi
scripts="$(node -e '
  const { readdirSync, readFileSync, existsSync } = require("node:fs");
  const found = [];
  const visit = (dir) => {
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      if (name.startsWith(".")) continue;
      const path = dir + "/" + name;
      if (name.startsWith("@")) { visit(path); continue; }
      const pkg = JSON.parse(readFileSync(path + "/package.json", "utf8"));
      for (const hook of ["preinstall", "install", "postinstall"]) if (pkg.scripts && pkg.scripts[hook]) found.push(pkg.name + " (" + hook + ": " + pkg.scripts[hook] + ")");
      visit(path + "/node_modules");
    }
  };
  visit("node_modules");
  console.log(found.join("\n"));')"
if [ -n "$scripts" ]; then say "packages with install scripts (transitive, optional native accelerators):"; echo "$scripts" | sed 's/^/    /'; fi
if echo "$scripts" | grep -q '^wasm-agent-sandbox '; then echo "check-package: our package has an install script" >&2; exit 1; fi

say "tsc --strict, skipLibCheck false, on a typed example"
npm install --no-audit --no-fund --silent --save-dev "$typescript" "$types_node"
cp "$repo/scripts/package-check/example.ts" example.ts
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "exactOptionalPropertyTypes": true,
    "noUncheckedIndexedAccess": true,
    "skipLibCheck": false,
    "types": ["node"],
    "outDir": "out"
  },
  "files": ["example.ts"]
}
JSON
npx tsc -p tsconfig.json

say "run the example (agents, typed run, a topology, a missing optional package)"
node out/example.js

say "the CLI under both bin names, and the emulator under --jitless"
pkg="node_modules/wasm-agent-sandbox"
npx --no-install wasm-agent-sandbox --version
npx --no-install sandbox run "$pkg/agents/build/echo.wasm" --input '{"hello":"world"}' >/dev/null
out="$(node --jitless node_modules/.bin/wasm-agent-sandbox run "$pkg/agents/build/vowels.wasm" --input '{"text":"hello"}' --json)"
echo "$out" | node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8")); if (r.engine !== "emulator" || r.output.count !== 2) { console.error(r); process.exit(1); } console.log("ok  --jitless: engine emulator, output", JSON.stringify(r.output))'
node --jitless --input-type=module -e 'const m = await import("wasm-agent-sandbox"); const s = new m.Sandbox({ workers: 1 }); await s.close(); console.log("ok  the root imports under --jitless")'
npx --no-install wasm-agent-sandbox demo >/dev/null
echo "ok  sandbox demo"

say "the dashboard's page is in the package and found from dist/ (serveDashboard with a stub read model)"
node --input-type=module -e '
  const { serveDashboard } = await import("./node_modules/wasm-agent-sandbox/dist/runtime/ops/dashboard-server.js");
  const d = await serveDashboard({ sample: async () => ({}) }, { port: 0 });
  try {
    for (const path of ["/", "/dashboard.js", "/dashboard.css"]) {
      const r = await fetch(new URL(path, d.url));
      if (r.status !== 200 || (await r.text()).length === 0) throw new Error(`${path}: ${r.status}`);
    }
  } finally { await d.close(); }
  console.log("ok  dashboard page served from the installed package");'

say "sandbox new → npm install → npm test, from a fresh directory: the time to a first running agent"
for lang in as rust; do
  started=$(date +%s%N)
  (cd "$work" && "$app/node_modules/.bin/wasm-agent-sandbox" new "first-$lang" --lang "$lang" --package "file:$tarball" >/dev/null)
  (cd "$work/first-$lang" && npm install --no-audit --no-fund --silent && npm test >"$work/first-$lang.log" 2>&1) || { cat "$work/first-$lang.log"; exit 1; }
  say "first agent ($lang): $(( ($(date +%s%N) - started) / 1000000 )) ms (scaffold, npm install, build, 2 tests)"
done

say "publint"
cd "$work"
npx --yes "$publint" --strict "$app/$pkg"
say "@arethetypeswrong/cli (ESM only: the package has no CommonJS build)"
npx --yes -p "$attw" attw --profile esm-only "$tarball"
say "all checks passed"
