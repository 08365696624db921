// The Rust `hello-wasi` command: a valid WASI preview 1 module that greets its stdin.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASI } from 'node:wasi';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..');
const helloWasm = resolve(repoRoot, 'agents', 'build', 'hello-wasi.wasm');

/** Runs the command under Node's own WASI with `stdin` as its input; returns exit code and stdout. */
async function runHello(module: WebAssembly.Module, stdin: string): Promise<{ code: number; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hello-wasi-'));
  const inPath = join(dir, 'stdin');
  const outPath = join(dir, 'stdout');
  writeFileSync(inPath, stdin);
  const inFd = openSync(inPath, 'r');
  const outFd = openSync(outPath, 'w');
  try {
    const wasi = new WASI({ version: 'preview1', stdin: inFd, stdout: outFd, returnOnExit: true });
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject() as WebAssembly.Imports);
    const code = wasi.start(instance);
    return { code, stdout: readFileSync(outPath, 'utf8') };
  } finally {
    closeSync(inFd);
    closeSync(outFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('rust agent: hello-wasi', () => {
  const bytes = readFileSync(helloWasm);
  const module = new WebAssembly.Module(bytes);

  it('is a valid module', () => {
    expect(WebAssembly.validate(bytes)).toBe(true);
  });

  it('imports only from wasi_snapshot_preview1', () => {
    const imports = WebAssembly.Module.imports(module);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((i) => i.module !== 'wasi_snapshot_preview1')).toEqual([]);
  });

  it('is a command: exports _start and its memory', () => {
    const exports = WebAssembly.Module.exports(module);
    expect(exports).toContainEqual({ name: '_start', kind: 'function' });
    expect(exports).toContainEqual({ name: 'memory', kind: 'memory' });
  });

  it('greets its trimmed stdin', async () => {
    expect(await runHello(module, '  Ada Lovelace \n')).toEqual({ code: 0, stdout: 'hello, Ada Lovelace!' });
  });

  it('greets the world when stdin is empty', async () => {
    expect(await runHello(module, '')).toEqual({ code: 0, stdout: 'hello, world!' });
  });
});
