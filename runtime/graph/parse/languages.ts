// Loads web-tree-sitter and the grammar .wasm files on first use, so the engine never pays for them otherwise.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SandboxError } from '../../errors.ts';

export type SourceLanguage = 'python' | 'typescript' | 'tsx' | 'javascript';

/** The parts of web-tree-sitter this folder uses (kept structural so the package stays an optional dependency). */
export interface TsPoint {
  row: number;
  column: number;
}
export interface TsNode {
  type: string;
  text: string;
  startPosition: TsPoint;
  namedChildren: (TsNode | null)[];
  childForFieldName(name: string): TsNode | null;
  childrenForFieldName(name: string): (TsNode | null)[];
}
export interface TsTree {
  rootNode: TsNode & { hasError: boolean };
  delete(): void;
}
export interface TsParser {
  setLanguage(language: unknown): TsParser;
  parse(source: string): TsTree | null;
  delete(): void;
}
interface TsModule {
  Parser: { init(): Promise<void>; new (): TsParser };
  Language: { load(input: string | Uint8Array): Promise<unknown> };
}

const GRAMMARS: Record<SourceLanguage, { pkg: string; wasm: string }> = {
  python: { pkg: 'tree-sitter-python', wasm: 'tree-sitter-python.wasm' },
  typescript: { pkg: 'tree-sitter-typescript', wasm: 'tree-sitter-typescript.wasm' },
  tsx: { pkg: 'tree-sitter-typescript', wasm: 'tree-sitter-tsx.wasm' },
  javascript: { pkg: 'tree-sitter-javascript', wasm: 'tree-sitter-javascript.wasm' },
};

const EXTENSIONS: Record<string, SourceLanguage> = {
  '.py': 'python',
  '.pyi': 'python',
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'javascript',
};

export function languageForPath(path: string): SourceLanguage | undefined {
  const dot = path.lastIndexOf('.');
  if (dot < 0 || path.endsWith('.d.ts')) return undefined;
  return EXTENSIONS[path.slice(dot).toLowerCase()];
}

const require = createRequire(import.meta.url);
let core: Promise<TsModule> | undefined;
const languages = new Map<SourceLanguage, Promise<unknown>>();
const parsers = new Map<SourceLanguage, TsParser>();

function missing(pkg: string, cause: unknown): SandboxError {
  return new SandboxError(
    'SANDBOX_MISSING_DEPENDENCY',
    `source parsing needs the optional package '${pkg}': npm install web-tree-sitter tree-sitter-python tree-sitter-typescript tree-sitter-javascript`,
    { cause },
  );
}

function loadCore(): Promise<TsModule> {
  core ??= (async () => {
    let mod: TsModule;
    try {
      // A computed specifier keeps type checking and bundlers from requiring the optional package.
      const specifier = 'web-tree-sitter';
      mod = (await import(specifier)) as TsModule;
    } catch (cause) {
      throw missing('web-tree-sitter', cause);
    }
    await mod.Parser.init();
    return mod;
  })();
  core.catch(() => {
    core = undefined; // let a later call retry after the package is installed
  });
  return core;
}

function loadLanguage(lang: SourceLanguage): Promise<unknown> {
  let p = languages.get(lang);
  if (p === undefined) {
    p = (async () => {
      const mod = await loadCore();
      const { pkg, wasm } = GRAMMARS[lang];
      let file: string;
      try {
        file = join(dirname(require.resolve(`${pkg}/package.json`)), wasm);
      } catch (cause) {
        throw missing(pkg, cause);
      }
      return mod.Language.load(file);
    })();
    languages.set(lang, p);
    p.catch(() => languages.delete(lang));
  }
  return p;
}

/** A parser for `lang`, shared by every caller (parsing is synchronous, so sharing is safe). */
export async function parserFor(lang: SourceLanguage): Promise<TsParser> {
  const existing = parsers.get(lang);
  if (existing !== undefined) return existing;
  const [mod, language] = await Promise.all([loadCore(), loadLanguage(lang)]);
  const parser = parsers.get(lang) ?? new mod.Parser().setLanguage(language);
  parsers.set(lang, parser);
  return parser;
}
