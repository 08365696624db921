// Fuzz findings kept as WAT files: the first line names the exported functions' signatures, so they replay as generated modules do.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzFunc } from './generate.ts';

export const CORPUS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'corpus');
const HEADER = ';; fuzz-signatures: ';

/** The text of a finding file: the signature line, then the module. */
export function findingText(wat: string, funcs: readonly FuzzFunc[], note: string): string {
  return `${HEADER}${JSON.stringify(funcs)}\n;; ${note.replace(/\n/g, '\n;; ')}\n${wat}\n`;
}

export interface CorpusEntry {
  name: string;
  wat: string;
  funcs: FuzzFunc[];
}

export function readFinding(file: string): CorpusEntry {
  const text = readFileSync(file, 'utf8');
  const first = text.slice(0, text.indexOf('\n'));
  if (!first.startsWith(HEADER)) throw new Error(`${file}: the first line must be "${HEADER}[...]"`);
  return { name: path.basename(file), wat: text, funcs: JSON.parse(first.slice(HEADER.length)) as FuzzFunc[] };
}

export function readCorpus(dir = CORPUS_DIR): CorpusEntry[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.wat'))
    .sort()
    .map((f) => readFinding(path.join(dir, f)));
}
