#!/usr/bin/env node
// The `sandbox` executable: a few lines over runtime/cli/main.ts (compiled to dist/ by `npm install`).
let main;
try {
  ({ main } = await import('../dist/runtime/cli/main.js'));
} catch (error) {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist')) {
    console.error(
      'sandbox: the library is not built yet; run `npm install` (or `npm run build`) in the package directory',
    );
    process.exit(2);
  }
  throw error;
}
const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => controller.abort(signal));
}
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
