// Turns per-file facts into one code graph: module/class/function nodes, contains/imports/calls edges.
import { posix } from 'node:path';
import type { Attributes, EdgeJSON, GraphJSON, NodeJSON } from '../graph.ts';
import { moduleKey, type Callee, type FileFacts, type ImportFact } from './extract.ts';

const JS_EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs'];

/** Where an import points: a file in the set, or an outside module by name. */
type Target = { internal: true; path: string } | { internal: false; name: string };

function resolvePython(imp: ImportFact, from: string, files: ReadonlySet<string>): Target {
  const parts = imp.specifier === '' ? [] : imp.specifier.split('.');
  const candidates = (base: string): string[] => {
    const stem = posix.join(base, ...parts);
    return parts.length === 0
      ? [posix.join(base, '__init__.py')]
      : [`${stem}.py`, `${stem}.pyi`, posix.join(stem, '__init__.py')];
  };
  if (imp.level > 0) {
    let base = posix.dirname(from);
    for (let i = 1; i < imp.level; i++) base = posix.dirname(base);
    for (const c of candidates(base))
      if (files.has(posix.normalize(c))) return { internal: true, path: posix.normalize(c) };
    return { internal: false, name: '.'.repeat(imp.level) + imp.specifier };
  }
  // Absolute imports: from the root, then from the importing file's folder (scripts run from their own folder).
  for (const base of ['.', posix.dirname(from)]) {
    for (const c of candidates(base))
      if (files.has(posix.normalize(c))) return { internal: true, path: posix.normalize(c) };
  }
  return { internal: false, name: imp.specifier };
}

function resolveJs(imp: ImportFact, from: string, files: ReadonlySet<string>): Target {
  const spec = imp.specifier;
  if (!spec.startsWith('./') && !spec.startsWith('../') && spec !== '.' && spec !== '..')
    return { internal: false, name: spec };
  const stem = posix.normalize(posix.join(posix.dirname(from), spec));
  const tries = [stem];
  // TypeScript ESM writes './x.js' for './x.ts'.
  const m = /\.(c|m)?jsx?$/.exec(stem);
  if (m) {
    const bare = stem.slice(0, m.index);
    tries.push(`${bare}.ts`, `${bare}.tsx`, `${bare}.mts`, `${bare}.cts`);
  }
  for (const ext of JS_EXTENSIONS) tries.push(stem + ext);
  for (const ext of JS_EXTENSIONS) tries.push(posix.join(stem, `index${ext}`));
  for (const t of tries) if (files.has(t)) return { internal: true, path: t };
  return { internal: false, name: spec };
}

export interface ResolveStats {
  calls: number;
  resolvedCalls: number;
}

/** Builds the graph. Edge attributes are flags (`contains`, `imports`, `calls`), since one pair can be several. */
export function buildCodeGraph(all: FileFacts[]): { graph: GraphJSON; stats: ResolveStats } {
  const files = new Set(all.map((f) => f.path));
  const byPath = new Map(all.map((f) => [f.path, f]));
  const nodes: NodeJSON[] = [];
  const nodeKeys = new Set<string>();
  const edges = new Map<string, EdgeJSON>();
  const stats: ResolveStats = { calls: 0, resolvedCalls: 0 };

  const addNode = (key: string, attributes: Attributes): void => {
    if (nodeKeys.has(key)) return;
    nodeKeys.add(key);
    nodes.push({ key, attributes });
  };
  const addEdge = (source: string, target: string, flag: 'contains' | 'imports' | 'calls'): void => {
    const id = `${source}\u0000${target}`;
    const e = edges.get(id);
    if (e === undefined) edges.set(id, { source, target, attributes: { [flag]: true } });
    else (e.attributes as Attributes)[flag] = true;
  };

  // Top-level definitions by module, and members by class, for name lookups.
  const topLevel = new Map<string, Map<string, string>>();
  const members = new Map<string, Map<string, string>>();
  for (const f of all) {
    addNode(f.moduleKey, { type: 'module', name: f.path, file: f.path, language: f.language });
    const top = new Map<string, string>();
    topLevel.set(f.moduleKey, top);
    const kindOf = new Map<string, 'class' | 'function'>();
    for (const d of f.defs) kindOf.set(d.key, d.kind);
    for (const d of f.defs) {
      addNode(d.key, {
        type: d.kind,
        name: d.name,
        qualifiedName: d.qualifiedName,
        file: f.path,
        line: d.line,
        language: f.language,
      });
      addEdge(d.parent, d.key, 'contains');
      if (d.parent === f.moduleKey) {
        if (!top.has(d.name)) top.set(d.name, d.key);
      } else if (kindOf.get(d.parent) === 'class') {
        let m = members.get(d.parent);
        if (m === undefined) members.set(d.parent, (m = new Map()));
        if (!m.has(d.name)) m.set(d.name, d.key);
      }
    }
  }

  const targetKey = (t: Target): string => (t.internal ? moduleKey(t.path) : `external:${t.name}`);

  for (const f of all) {
    const bindings = new Map<string, { module: Target; imported: string }>();
    for (const imp of f.imports) {
      const target = f.language === 'python' ? resolvePython(imp, f.path, files) : resolveJs(imp, f.path, files);
      const key = targetKey(target);
      if (!target.internal) addNode(key, { type: 'module', name: target.name, external: true });
      if (key !== f.moduleKey) addEdge(f.moduleKey, key, 'imports');
      for (const b of imp.bindings) bindings.set(b.local, { module: target, imported: b.imported });
    }

    const defIn = (target: Target, name: string): string | undefined => {
      if (!target.internal) return undefined;
      const facts = byPath.get(target.path);
      const wanted = name === 'default' ? facts?.defaultExport : name;
      return wanted === undefined ? undefined : topLevel.get(moduleKey(target.path))?.get(wanted);
    };
    const ownTop = topLevel.get(f.moduleKey) as Map<string, string>;

    const resolve = (callee: Callee, classKey: string | undefined): string | undefined => {
      if (callee.kind === 'name') {
        const local = ownTop.get(callee.name);
        if (local !== undefined) return local;
        const b = bindings.get(callee.name);
        return b === undefined || b.imported === '*' ? undefined : defIn(b.module, b.imported);
      }
      const { object, property } = callee;
      if (object === 'self' || object === 'this' || object === 'cls') {
        return classKey === undefined ? undefined : members.get(classKey)?.get(property);
      }
      const b = bindings.get(object);
      if (b !== undefined) {
        if (b.imported === '*') return defIn(b.module, property);
        const cls = defIn(b.module, b.imported);
        return cls === undefined ? undefined : members.get(cls)?.get(property);
      }
      const cls = ownTop.get(object);
      return cls === undefined ? undefined : members.get(cls)?.get(property);
    };

    for (const c of f.calls) {
      stats.calls++;
      const to = resolve(c.callee, c.classKey);
      if (to === undefined) continue;
      stats.resolvedCalls++;
      addEdge(c.from, to, 'calls');
    }
  }

  return { graph: { nodes, edges: [...edges.values()] }, stats };
}
