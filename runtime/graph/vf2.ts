// Subgraph isomorphism (VF2 with a VF2++-style matching order): finds where a small pattern graph occurs.
import { GraphError } from './errors.ts';
import { Graph, type Attributes, type GraphJSON } from './graph.ts';

const NONE = -1;

export interface SubgraphMatchOptions {
  /** Induced: non-edges of the pattern must be non-edges of the match too. Default false (monomorphism). */
  induced?: boolean;
  /** Stop after this many matches (default 1000). */
  limit?: number;
  /** Stop after trying this many candidate pairs (default 10,000,000). */
  maxSteps?: number;
  /** Stop at this time (ms since the epoch, as Date.now()). */
  deadline?: number;
}

export interface SubgraphMatchResult {
  /** Each match maps every pattern node key to a distinct graph node key. */
  matches: Record<string, string>[];
  /** Candidate pairs tried. */
  steps: number;
  /** Why the search stopped before exploring the whole space, or null when it explored all of it. */
  stoppedBy: 'limit' | 'steps' | 'deadline' | null;
}

/** Attribute values match when they are identical primitives or structurally equal (arrays, objects). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every attribute the pattern names must be present with the same value; others are ignored. */
export function attributesMatch(pattern: Attributes | undefined, target: Attributes | undefined): boolean {
  if (pattern === undefined) return true;
  for (const k in pattern) {
    if (!sameValue(pattern[k], target?.[k])) return false;
  }
  return true;
}

interface Step {
  /** Pattern slot placed at this depth. */
  p: number;
  /** For each earlier depth j: pattern edge p→p_j (its attributes, or null if none), and p_j→p. */
  outTo: (Attributes | undefined | null)[];
  inFrom: (Attributes | undefined | null)[];
  /** Self-loop in the pattern: its attributes, or null when there is none. */
  selfLoop: Attributes | undefined | null;
  /** An earlier depth adjacent to p whose image seeds the candidates, and in which direction. */
  anchor: number;
  anchorOut: boolean;
}

function edgeAttrs(g: Graph, s: number, d: number): Attributes | undefined | null {
  const e = g.edgeBetween(s, d);
  return e === NONE ? null : g.edgeAttrs[e];
}

/** Greedy order: most links to already-placed nodes first, then most selective attributes, then highest degree. */
function matchingOrder(p: Graph, slots: number[], rarity: Map<number, number>): Step[] {
  const placed: number[] = [];
  const depthOf = new Map<number, number>();
  const left = new Set(slots);
  const steps: Step[] = [];
  while (left.size > 0) {
    let best = NONE;
    let bestLinks = -1;
    let bestRarity = Infinity;
    let bestDeg = -1;
    for (const s of left) {
      let links = 0;
      for (const t of placed) if (p.edgeBetween(s, t) !== NONE || p.edgeBetween(t, s) !== NONE) links++;
      const r = rarity.get(s) as number;
      const deg = (p.outDeg[s] as number) + (p.inDeg[s] as number);
      if (links > bestLinks || (links === bestLinks && (r < bestRarity || (r === bestRarity && deg > bestDeg)))) {
        best = s;
        bestLinks = links;
        bestRarity = r;
        bestDeg = deg;
      }
    }
    left.delete(best);
    const outTo: (Attributes | undefined | null)[] = [];
    const inFrom: (Attributes | undefined | null)[] = [];
    let anchor = NONE;
    let anchorOut = false;
    for (let j = 0; j < placed.length; j++) {
      const t = placed[j] as number;
      const o = edgeAttrs(p, best, t);
      const i = edgeAttrs(p, t, best);
      outTo.push(o);
      inFrom.push(i);
      if (anchor === NONE && i !== null) {
        anchor = j;
        anchorOut = true; // candidates are out-neighbours of the anchor's image
      } else if (anchor === NONE && o !== null) {
        anchor = j;
        anchorOut = false;
      }
    }
    steps.push({ p: best, outTo, inFrom, selfLoop: edgeAttrs(p, best, best), anchor, anchorOut });
    depthOf.set(best, placed.length);
    placed.push(best);
  }
  return steps;
}

/** Finds embeddings of `pattern` in `g`, matching pattern node attributes (and edge attributes) as subsets. */
export function subgraphMatch(
  g: Graph,
  pattern: Graph | GraphJSON,
  options: SubgraphMatchOptions = {},
): SubgraphMatchResult {
  const p = pattern instanceof Graph ? pattern : Graph.fromJSON(pattern);
  const induced = options.induced === true;
  const limit = options.limit ?? 1000;
  const maxSteps = options.maxSteps ?? 10_000_000;
  const deadline = options.deadline ?? Infinity;
  if (!(limit >= 0) || !(maxSteps >= 0))
    throw new GraphError('GRAPH_INVALID_ARGUMENT', '`limit` and `maxSteps` must be non-negative numbers');
  if (p.order > 256)
    throw new GraphError('GRAPH_INVALID_ARGUMENT', `patterns are limited to 256 nodes, got ${p.order}`);

  const pslots: number[] = [];
  for (let i = 0; i < p.nodeHigh; i++) if (p.nodeAlive[i] === 1) pslots.push(i);
  const result: SubgraphMatchResult = { matches: [], steps: 0, stoppedBy: null };
  if (pslots.length === 0) {
    if (limit > 0) result.matches.push({});
    else result.stoppedBy = 'limit';
    return result;
  }
  if (pslots.length > g.order) return result;
  if (limit === 0) {
    result.stoppedBy = 'limit';
    return result;
  }

  // Candidate lists by attributes; their lengths also rank how selective each pattern node is.
  const high = g.nodeHigh;
  const candidates = new Map<number, Int32Array>();
  const allowed = new Map<number, Uint8Array>();
  const rarity = new Map<number, number>();
  for (const ps of pslots) {
    const pa = p.nodeAttrs[ps];
    const ok = new Uint8Array(high);
    const list: number[] = [];
    const needOut = p.outDeg[ps] as number;
    const needIn = p.inDeg[ps] as number;
    for (let v = 0; v < high; v++) {
      if (g.nodeAlive[v] !== 1 || (g.outDeg[v] as number) < needOut || (g.inDeg[v] as number) < needIn) continue;
      if (!attributesMatch(pa, g.nodeAttrs[v])) continue;
      ok[v] = 1;
      list.push(v);
    }
    allowed.set(ps, ok);
    candidates.set(ps, Int32Array.from(list));
    rarity.set(ps, list.length);
    if (list.length === 0) return result;
  }

  const order = matchingOrder(p, pslots, rarity);
  const n = order.length;
  const image = new Int32Array(n).fill(NONE);
  const used = new Uint8Array(high);
  let steps = 0;
  let stopped: SubgraphMatchResult['stoppedBy'] = null;

  const feasible = (depth: number, v: number): boolean => {
    const st = order[depth] as Step;
    if (used[v] === 1 || (allowed.get(st.p) as Uint8Array)[v] !== 1) return false;
    const loop = edgeAttrs(g, v, v);
    if (st.selfLoop !== null) {
      if (loop === null || !attributesMatch(st.selfLoop, loop)) return false;
    } else if (induced && loop !== null) return false;
    for (let j = 0; j < depth; j++) {
      const w = image[j] as number;
      const po = st.outTo[j];
      const pi = st.inFrom[j];
      if (po !== null || induced) {
        const go = edgeAttrs(g, v, w);
        if (po !== null ? go === null || !attributesMatch(po, go) : go !== null) return false;
      }
      if (pi !== null || induced) {
        const gi = edgeAttrs(g, w, v);
        if (pi !== null ? gi === null || !attributesMatch(pi, gi) : gi !== null) return false;
      }
    }
    return true;
  };

  const record = (): void => {
    const m: Record<string, string> = {};
    for (let j = 0; j < n; j++) m[p.keyAt((order[j] as Step).p)] = g.keyAt(image[j] as number);
    result.matches.push(m);
  };

  const tryCandidate = (depth: number, v: number): boolean => {
    if (++steps > maxSteps) {
      stopped = 'steps';
      return false;
    }
    if ((steps & 1023) === 0 && Date.now() > deadline) {
      stopped = 'deadline';
      return false;
    }
    if (!feasible(depth, v)) return true;
    image[depth] = v;
    used[v] = 1;
    let go = true;
    if (depth + 1 === n) {
      record();
      if (result.matches.length >= limit) {
        stopped = 'limit';
        go = false;
      }
    } else {
      go = extend(depth + 1);
    }
    used[v] = 0;
    image[depth] = NONE;
    return go;
  };

  /** Returns false when the search must stop (limit, steps or deadline). */
  const extend = (depth: number): boolean => {
    const st = order[depth] as Step;
    if (st.anchor === NONE) {
      const list = candidates.get(st.p) as Int32Array;
      for (let i = 0; i < list.length; i++) if (!tryCandidate(depth, list[i] as number)) return false;
      return true;
    }
    const a = image[st.anchor] as number;
    if (st.anchorOut) {
      for (let e = g.outHead[a] as number; e !== NONE; e = g.nextOut[e] as number)
        if (!tryCandidate(depth, g.edgeDst[e] as number)) return false;
    } else {
      for (let e = g.inHead[a] as number; e !== NONE; e = g.nextIn[e] as number)
        if (!tryCandidate(depth, g.edgeSrc[e] as number)) return false;
    }
    return true;
  };

  extend(0);
  result.steps = Math.min(steps, maxSteps);
  result.stoppedBy = stopped;
  return result;
}
