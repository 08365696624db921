// parseFile / parseRepository: read sources safely (size cap, no symlinks), parse with tree-sitter, build the graph.
import { opendir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';
import type { GraphJSON } from '../graph.ts';
import { GraphError } from '../errors.ts';
import { extractFacts, type FileFacts } from './extract.ts';
import { languageForPath, parserFor } from './languages.ts';
import { buildCodeGraph } from './resolve.ts';

export interface ParseOptions {
  /** Files larger than this are skipped with a report (default 1 MiB). */
  maxFileBytes?: number;
  /** Stop collecting after this many source files (default 20,000); the rest are reported as skipped. */
  maxFiles?: number;
  /** Folder names never entered, added to the defaults (node_modules, .git, __pycache__, venvs, dist, build). */
  ignore?: string[];
  /** Give up (with a GRAPH_TIMEOUT error) at this time, ms since the epoch. */
  deadline?: number;
}

export interface SkippedFile {
  path: string;
  reason: 'too-large' | 'unreadable' | 'symlink' | 'limit' | 'parse-failed';
  detail?: string;
}

export interface ParseReport {
  files: number;
  skipped: SkippedFile[];
  /** Files that parsed with syntax errors (tree-sitter recovers; their graph part may be partial). */
  syntaxErrors: string[];
  calls: number;
  resolvedCalls: number;
}

export interface ParseResult {
  graph: GraphJSON;
  report: ParseReport;
}

const DEFAULT_IGNORE = [
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  '__pycache__',
  '.venv',
  'venv',
  '.tox',
  '.mypy_cache',
  'dist',
  'build',
];

async function factsOf(source: string, path: string, report: ParseReport): Promise<FileFacts | undefined> {
  const lang = languageForPath(path);
  if (lang === undefined) return undefined;
  const parser = await parserFor(lang);
  const tree = parser.parse(source);
  if (tree === null) {
    report.skipped.push({ path, reason: 'parse-failed' });
    return undefined;
  }
  try {
    if (tree.rootNode.hasError) report.syntaxErrors.push(path);
    return extractFacts(tree.rootNode, path, lang);
  } finally {
    tree.delete();
  }
}

function emptyReport(): ParseReport {
  return { files: 0, skipped: [], syntaxErrors: [], calls: 0, resolvedCalls: 0 };
}

function finish(facts: FileFacts[], report: ParseReport): ParseResult {
  const { graph, stats } = buildCodeGraph(facts);
  report.files = facts.length;
  report.calls = stats.calls;
  report.resolvedCalls = stats.resolvedCalls;
  return { graph, report };
}

/**
 * Parses one Python, TypeScript or JavaScript file (language from its extension). With `source`, the text is
 * used instead of reading `path`. Imports to other files become module nodes keyed by the resolved name.
 */
export async function parseFile(path: string, options: ParseOptions & { source?: string } = {}): Promise<ParseResult> {
  const report = emptyReport();
  const name = basename(path);
  if (languageForPath(name) === undefined) {
    throw new GraphError(
      'GRAPH_INVALID_ARGUMENT',
      `cannot tell the language of '${path}' (supported: .py .pyi .ts .tsx .mts .cts .js .jsx .mjs .cjs)`,
    );
  }
  let source = options.source;
  if (source === undefined) {
    const max = options.maxFileBytes ?? 1 << 20;
    try {
      const st = await stat(path);
      if (st.size > max) {
        report.skipped.push({ path: name, reason: 'too-large', detail: `${st.size} bytes > ${max}` });
        return finish([], report);
      }
      source = await readFile(path, 'utf8');
    } catch (err) {
      report.skipped.push({ path: name, reason: 'unreadable', detail: (err as Error).message });
      return finish([], report);
    }
  }
  const facts = await factsOf(source, name, report);
  return finish(facts === undefined ? [] : [facts], report);
}

/** Parses every supported file under `root`. Symbolic links are never followed, so nothing outside `root` is read. */
export async function parseRepository(root: string, options: ParseOptions = {}): Promise<ParseResult> {
  const report = emptyReport();
  const maxBytes = options.maxFileBytes ?? 1 << 20;
  const maxFiles = options.maxFiles ?? 20_000;
  const ignore = new Set([...DEFAULT_IGNORE, ...(options.ignore ?? [])]);
  const deadline = options.deadline ?? Infinity;
  let base: string;
  try {
    base = await realpath(root);
    if (!(await stat(base)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new GraphError('GRAPH_INVALID_ARGUMENT', `cannot read repository root '${root}': ${(err as Error).message}`);
  }

  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      report.skipped.push({
        path: relative(base, dir).split(sep).join('/'),
        reason: 'unreadable',
        detail: (err as Error).message,
      });
      return;
    }
    const entries = [];
    for await (const d of handle) entries.push(d);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const d of entries) {
      const full = join(dir, d.name);
      const rel = relative(base, full).split(sep).join('/');
      if (d.isSymbolicLink()) {
        report.skipped.push({ path: rel, reason: 'symlink' });
        continue;
      }
      if (d.isDirectory()) {
        if (!ignore.has(d.name)) await walk(full);
      } else if (d.isFile() && languageForPath(d.name) !== undefined) {
        if (found.length >= maxFiles)
          report.skipped.push({ path: rel, reason: 'limit', detail: `more than ${maxFiles} files` });
        else found.push(rel);
      }
    }
  };
  await walk(base);

  const facts: FileFacts[] = [];
  for (const rel of found) {
    if (Date.now() > deadline)
      throw new GraphError('GRAPH_TIMEOUT', `parsing '${root}' ran past its deadline after ${facts.length} files`);
    const full = join(base, ...rel.split('/'));
    let source: string;
    try {
      const st = await stat(full);
      if (st.size > maxBytes) {
        report.skipped.push({ path: rel, reason: 'too-large', detail: `${st.size} bytes > ${maxBytes}` });
        continue;
      }
      source = await readFile(full, 'utf8');
    } catch (err) {
      report.skipped.push({ path: rel, reason: 'unreadable', detail: (err as Error).message });
      continue;
    }
    const f = await factsOf(source, rel, report);
    if (f !== undefined) facts.push(f);
  }
  return finish(facts, report);
}
