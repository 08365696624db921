// Walks one syntax tree and collects the facts a code graph needs: definitions, imports and call sites.
import type { SourceLanguage, TsNode } from './languages.ts';

export interface DefFact {
  key: string;
  kind: 'class' | 'function';
  name: string;
  qualifiedName: string;
  line: number;
  /** Key of the module, class or function that contains it. */
  parent: string;
}

export interface ImportFact {
  /** As written ('./util', 'os.path'); for Python relative imports, without the leading dots. */
  specifier: string;
  /** Python relative import level (number of leading dots); 0 otherwise. */
  level: number;
  /** Local names it binds: `imported` is a name in that module, '*' for the module itself, 'default' for JS default. */
  bindings: { local: string; imported: string }[];
  line: number;
}

export type Callee = { kind: 'name'; name: string } | { kind: 'member'; object: string; property: string };

export interface CallFact {
  /** The innermost function, class or module the call is written in. */
  from: string;
  /** The innermost enclosing class, for self./this. calls. */
  classKey: string | undefined;
  callee: Callee;
  line: number;
}

export interface FileFacts {
  path: string;
  language: SourceLanguage;
  moduleKey: string;
  defs: DefFact[];
  imports: ImportFact[];
  calls: CallFact[];
  /** JS/TS: the local name exported as default. */
  defaultExport: string | undefined;
}

export const moduleKey = (path: string): string => `module:${path}`;

interface Scope {
  key: string;
  qualified: string;
  classKey: string | undefined;
}

const JS_FUNCTION_VALUES = new Set(['arrow_function', 'function_expression', 'function', 'generator_function']);
const JS_CLASS_DECLS = new Set(['class_declaration', 'abstract_class_declaration', 'class']);
const JS_FUNCTION_DECLS = new Set(['function_declaration', 'generator_function_declaration']);

function unquote(text: string): string {
  return text.length >= 2 ? text.slice(1, -1) : text;
}

/** Dotted text of an identifier chain (`a`, `a.b.c`, `this`, `self`), or undefined for anything more complex. */
function chainText(node: TsNode | null): string | undefined {
  if (node === null) return undefined;
  switch (node.type) {
    case 'identifier':
    case 'this':
    case 'property_identifier':
      return node.text;
    case 'attribute': {
      const o = chainText(node.childForFieldName('object'));
      const a = node.childForFieldName('attribute');
      return o === undefined || a === null ? undefined : `${o}.${a.text}`;
    }
    case 'member_expression': {
      const o = chainText(node.childForFieldName('object'));
      const p = node.childForFieldName('property');
      return o === undefined || p === null ? undefined : `${o}.${p.text}`;
    }
    default:
      return undefined;
  }
}

function calleeOf(node: TsNode | null): Callee | undefined {
  if (node === null) return undefined;
  if (node.type === 'identifier') return { kind: 'name', name: node.text };
  if (node.type === 'attribute' || node.type === 'member_expression') {
    const object = chainText(node.childForFieldName('object'));
    const prop = node.childForFieldName(node.type === 'attribute' ? 'attribute' : 'property');
    if (object !== undefined && prop !== null) return { kind: 'member', object, property: prop.text };
  }
  return undefined;
}

export function extractFacts(root: TsNode, path: string, language: SourceLanguage): FileFacts {
  const facts: FileFacts = {
    path,
    language,
    moduleKey: moduleKey(path),
    defs: [],
    imports: [],
    calls: [],
    defaultExport: undefined,
  };
  const taken = new Set<string>();
  const python = language === 'python';

  const define = (kind: 'class' | 'function', name: string, node: TsNode, scope: Scope): Scope => {
    const qualified = scope.qualified === '' ? name : `${scope.qualified}.${name}`;
    let key = `${kind}:${path}#${qualified}`;
    // Redefinitions (Python re-defs, overload bodies) get their line so keys stay unique.
    if (taken.has(key)) key = `${key}@${node.startPosition.row + 1}`;
    taken.add(key);
    facts.defs.push({ key, kind, name, qualifiedName: qualified, line: node.startPosition.row + 1, parent: scope.key });
    return { key, qualified, classKey: kind === 'class' ? key : scope.classKey };
  };

  const visitChildren = (node: TsNode, scope: Scope, depth: number): void => {
    for (const c of node.namedChildren) if (c !== null) visit(c, scope, depth + 1);
  };

  const visit = (node: TsNode, scope: Scope, depth: number): void => {
    if (depth > 1500) return; // pathological nesting: stop descending rather than exhaust the stack
    const t = node.type;
    if (python) {
      if (t === 'function_definition' || t === 'class_definition') {
        const name = node.childForFieldName('name');
        const inner = define(t === 'class_definition' ? 'class' : 'function', name?.text ?? '<anonymous>', node, scope);
        visitChildren(node, inner, depth);
        return;
      }
      if (t === 'import_statement') {
        for (const n of node.childrenForFieldName('name')) {
          if (n === null) continue;
          if (n.type === 'aliased_import') {
            const mod = n.childForFieldName('name')?.text ?? '';
            const alias = n.childForFieldName('alias')?.text ?? mod;
            facts.imports.push({
              specifier: mod,
              level: 0,
              bindings: [{ local: alias, imported: '*' }],
              line: n.startPosition.row + 1,
            });
          } else {
            facts.imports.push({
              specifier: n.text,
              level: 0,
              bindings: [{ local: n.text, imported: '*' }],
              line: n.startPosition.row + 1,
            });
          }
        }
        return;
      }
      if (t === 'import_from_statement') {
        const modNode = node.childForFieldName('module_name');
        let specifier = '';
        let level = 0;
        if (modNode !== null) {
          if (modNode.type === 'relative_import') {
            const text = modNode.text;
            level = text.length - text.replace(/^\.+/, '').length;
            specifier = text.slice(level);
          } else specifier = modNode.text;
        }
        const bindings: ImportFact['bindings'] = [];
        for (const n of node.childrenForFieldName('name')) {
          if (n === null) continue;
          if (n.type === 'aliased_import') {
            const imported = n.childForFieldName('name')?.text ?? '';
            bindings.push({ local: n.childForFieldName('alias')?.text ?? imported, imported });
          } else bindings.push({ local: n.text, imported: n.text });
        }
        facts.imports.push({ specifier, level, bindings, line: node.startPosition.row + 1 });
        return;
      }
      if (t === 'call') {
        const callee = calleeOf(node.childForFieldName('function'));
        if (callee !== undefined)
          facts.calls.push({ from: scope.key, classKey: scope.classKey, callee, line: node.startPosition.row + 1 });
        visitChildren(node, scope, depth);
        return;
      }
      visitChildren(node, scope, depth);
      return;
    }

    // JavaScript / TypeScript
    if (JS_FUNCTION_DECLS.has(t) || JS_CLASS_DECLS.has(t) || t === 'method_definition') {
      const name = node.childForFieldName('name');
      if (name === null && t === 'class') {
        visitChildren(node, scope, depth);
        return;
      }
      const inner = define(JS_CLASS_DECLS.has(t) ? 'class' : 'function', name?.text ?? '<anonymous>', node, scope);
      visitChildren(node, inner, depth);
      return;
    }
    if (t === 'variable_declarator' || t === 'public_field_definition' || t === 'field_definition') {
      const name =
        node.childForFieldName(t === 'variable_declarator' ? 'name' : 'name') ?? node.childForFieldName('property');
      const value = node.childForFieldName('value');
      if (name !== null && value !== null && (JS_FUNCTION_VALUES.has(value.type) || JS_CLASS_DECLS.has(value.type))) {
        const kind = JS_CLASS_DECLS.has(value.type) ? 'class' : 'function';
        const inner = define(kind, name.text, node, scope);
        visitChildren(value, inner, depth);
        return;
      }
      if (name !== null && value !== null && value.type === 'call_expression') {
        const fn = value.childForFieldName('function');
        const arg = value.childForFieldName('arguments')?.namedChildren[0];
        if (
          fn?.type === 'identifier' &&
          fn.text === 'require' &&
          arg?.type === 'string' &&
          name.type === 'identifier'
        ) {
          facts.imports.push({
            specifier: unquote(arg.text),
            level: 0,
            bindings: [{ local: name.text, imported: '*' }],
            line: node.startPosition.row + 1,
          });
          return;
        }
      }
      visitChildren(node, scope, depth);
      return;
    }
    if (t === 'import_statement') {
      const source = node.childForFieldName('source');
      if (source === null) return;
      const bindings: ImportFact['bindings'] = [];
      for (const c of node.namedChildren) {
        if (c === null || c.type !== 'import_clause') continue;
        for (const part of c.namedChildren) {
          if (part === null) continue;
          if (part.type === 'identifier') bindings.push({ local: part.text, imported: 'default' });
          else if (part.type === 'namespace_import') {
            const id = part.namedChildren.find((x) => x?.type === 'identifier');
            if (id) bindings.push({ local: id.text, imported: '*' });
          } else if (part.type === 'named_imports') {
            for (const spec of part.namedChildren) {
              if (spec === null || spec.type !== 'import_specifier') continue;
              const imported = spec.childForFieldName('name')?.text ?? '';
              bindings.push({ local: spec.childForFieldName('alias')?.text ?? imported, imported });
            }
          }
        }
      }
      facts.imports.push({ specifier: unquote(source.text), level: 0, bindings, line: node.startPosition.row + 1 });
      return;
    }
    if (t === 'export_statement') {
      const source = node.childForFieldName('source');
      if (source !== null) {
        facts.imports.push({
          specifier: unquote(source.text),
          level: 0,
          bindings: [],
          line: node.startPosition.row + 1,
        });
        return;
      }
      const isDefault = node.text.startsWith('export default');
      const decl = node.childForFieldName('declaration');
      const value = node.childForFieldName('value');
      if (isDefault && decl !== null) facts.defaultExport = decl.childForFieldName('name')?.text;
      else if (isDefault && value?.type === 'identifier') facts.defaultExport = value.text;
      visitChildren(node, scope, depth);
      return;
    }
    if (t === 'call_expression' || t === 'new_expression') {
      const fn = node.childForFieldName(t === 'call_expression' ? 'function' : 'constructor');
      if (fn !== null && fn.type === 'import') {
        const arg = node.childForFieldName('arguments')?.namedChildren[0];
        if (arg?.type === 'string')
          facts.imports.push({
            specifier: unquote(arg.text),
            level: 0,
            bindings: [],
            line: node.startPosition.row + 1,
          });
      } else if (fn?.type === 'identifier' && fn.text === 'require') {
        const arg = node.childForFieldName('arguments')?.namedChildren[0];
        if (arg?.type === 'string')
          facts.imports.push({
            specifier: unquote(arg.text),
            level: 0,
            bindings: [],
            line: node.startPosition.row + 1,
          });
      } else {
        const callee = calleeOf(fn);
        if (callee !== undefined)
          facts.calls.push({ from: scope.key, classKey: scope.classKey, callee, line: node.startPosition.row + 1 });
      }
      visitChildren(node, scope, depth);
      return;
    }
    visitChildren(node, scope, depth);
  };

  visit(root, { key: facts.moduleKey, qualified: '', classKey: undefined }, 0);
  return facts;
}
