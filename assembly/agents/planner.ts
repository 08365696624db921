// Agent `planner`: puts tasks and their dependencies into the graph service and answers a topological order, or a cycle.
import {
  E_UNAVAILABLE,
  graphCall,
  graphCall0,
  graphErrorCode,
  graphErrorData,
  graphFailure,
  graphStatus,
  GRAPH_SERVICE_ERROR,
  handle,
  Input,
  Kind,
  log,
  output,
  Value,
  Writer,
} from "../sdk";
export { sandbox_abi_version, sandbox_alloc, sandbox_handle } from "../sdk";

/** Handler return codes (the run's errorCode). */
const E_BAD_INPUT: i32 = 1;
const E_GRAPH_UNAVAILABLE: i32 = 2;
const E_GRAPH_FAILED: i32 = 3;

/** Ends a namespace in a node key; namespaces may not contain it, so `ns:` prefixes never overlap. */
const NS_SEPARATOR = ":";
const USAGE = "input must be {tasks: [{id: string, deps?: [string]}], graph?: string}";

const out = new Writer(256);
const params = new Writer(1024);

/** The validated input: node keys in the order they are added, and the dependency edges dep → task. */
class Plan {
  prefix: string = "";
  /** Task ids, then ids only named as dependencies, each once. */
  ids: string[] = [];
  /** The same, as graph keys (prefix + id). */
  keys: Set<string> = new Set<string>();
  sources: string[] = [];
  targets: string[] = [];
}

function bad(message: string): Plan | null {
  log.error("planner: " + message + "; " + USAGE);
  return null;
}

function parse(root: Value | null): Plan | null {
  if (root === null || root.kind != Kind.Map) return bad("input is not a map");
  const plan = new Plan();
  const ns = root.get("graph");
  if (ns !== null && !ns.isNil) {
    if (ns.kind != Kind.Str || ns.s!.length == 0 || ns.s!.includes(NS_SEPARATOR)) {
      return bad("`graph` must be a non-empty string without '" + NS_SEPARATOR + "'");
    }
    plan.prefix = ns.s! + NS_SEPARATOR;
  }
  const tasks = root.get("tasks");
  if (tasks === null || tasks.kind != Kind.Array) return bad("`tasks` must be an array");
  const items = tasks.items!;
  const taskIds = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    const task = items[i];
    const where = "tasks[" + i.toString() + "]";
    if (task.kind != Kind.Map) return bad(where + " is not a map");
    const id = task.get("id");
    if (id === null || id.kind != Kind.Str || id.s!.length == 0) return bad(where + ".id must be a non-empty string");
    if (taskIds.has(id.s!)) return bad("task id \"" + id.s! + "\" appears twice");
    taskIds.add(id.s!);
    plan.ids.push(id.s!);
  }
  // A second pass, because a dependency may name a task listed after the one that needs it.
  const named = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    const task = items[i];
    const target = task.get("id")!.s!;
    const deps = task.get("deps");
    if (deps === null || deps.isNil) continue;
    const where = "tasks[" + i.toString() + "].deps";
    if (deps.kind != Kind.Array) return bad(where + " must be an array of strings");
    const list = deps.items!;
    const mine = new Set<string>();
    for (let j = 0; j < list.length; j++) {
      const dep = list[j];
      if (dep.kind != Kind.Str || dep.s!.length == 0) return bad(where + "[" + j.toString() + "] must be a non-empty string");
      const source = dep.s!;
      // The graph has no parallel edges, so a repeated dependency is one edge.
      if (mine.has(source)) continue;
      mine.add(source);
      if (!taskIds.has(source) && !named.has(source)) {
        named.add(source);
        plan.ids.push(source);
      }
      plan.sources.push(source);
      plan.targets.push(target);
    }
  }
  for (let i = 0; i < plan.ids.length; i++) plan.keys.add(plan.prefix + plan.ids[i]);
  return plan;
}

function graphFailed(method: string): i32 {
  if (graphStatus() == E_UNAVAILABLE) {
    log.error("planner: no graph service is configured for this sandbox; the planner needs one");
    return E_GRAPH_UNAVAILABLE;
  }
  log.error("planner: graph service `" + method + "` failed: " + graphFailure());
  return E_GRAPH_FAILED;
}

/** Keys of this namespace already in the graph (from an earlier run), which the new plan replaces. */
function staleKeys(plan: Plan): string[] | null {
  const stale: string[] = [];
  if (plan.prefix.length == 0) return stale;
  const nodes = graphCall0("nodes");
  if (nodes === null) return null;
  if (nodes.kind != Kind.Array) return stale;
  const items = nodes.items!;
  for (let i = 0; i < items.length; i++) {
    const key = items[i].asString();
    if (key.startsWith(plan.prefix)) stale.push(key);
  }
  return stale;
}

/**
 * `apply {ops}`: one atomic transaction. Without a namespace the planner owns the graph and clears it first;
 * with one it removes only its namespace's earlier nodes (with their edges).
 */
function writeApply(plan: Plan, stale: string[]): Writer {
  const p = plan.prefix;
  const clears = p.length == 0 ? 1 : 0;
  const w = params.reset().map(1).key("ops").array(clears + stale.length + plan.ids.length + plan.sources.length);
  if (clears == 1) w.map(1).key("op").str("clear");
  for (let i = 0; i < stale.length; i++) w.map(2).key("op").str("removeNode").key("key").str(stale[i]);
  for (let i = 0; i < plan.ids.length; i++) w.map(2).key("op").str("addNode").key("key").str(p + plan.ids[i]);
  for (let i = 0; i < plan.sources.length; i++) {
    w.map(3).key("op").str("addEdge");
    w.key("source").str(p + plan.sources[i]);
    w.key("target").str(p + plan.targets[i]);
  }
  return w;
}

/** Writes `{<field>: [ids]}` with this plan's keys among `keys` (in their order), the namespace stripped. */
function answer(field: string, plan: Plan, keys: Value): void {
  const items = keys.items!;
  let n = 0;
  for (let i = 0; i < items.length; i++) if (plan.keys.has(items[i].asString())) n++;
  const w = out.reset().map(1).key(field).array(n);
  for (let i = 0; i < items.length; i++) {
    const key = items[i].asString();
    if (plan.keys.has(key)) w.str(key.substring(plan.prefix.length));
  }
  output(w);
}

/** The cycle a GRAPH_CYCLE error carries, or (if the host dropped the error's data) one from `findCycle`. */
function cycleOf(): Value | null {
  const data = graphErrorData();
  if (data !== null) {
    const cycle = data.get("cycle");
    if (cycle !== null && cycle.kind == Kind.Array) return cycle;
  }
  const found = graphCall0("findCycle");
  if (found === null || found.kind != Kind.Map) return null;
  const cycle = found.get("cycle");
  return cycle !== null && cycle.kind == Kind.Array ? cycle : null;
}

function allOurs(plan: Plan, keys: Value): bool {
  const items = keys.items!;
  for (let i = 0; i < items.length; i++) if (!plan.keys.has(items[i].asString())) return false;
  return items.length > 0;
}

handle((input: Input): i32 => {
  const plan = parse(input.value());
  if (plan === null) return E_BAD_INPUT;

  const stale = staleKeys(plan);
  if (stale === null) return graphFailed("nodes");
  if (graphCall<Writer>("apply", writeApply(plan, stale)) === null) return graphFailed("apply");

  const sorted = graphCall0("topologicalSort");
  if (sorted !== null) {
    const order = sorted.kind == Kind.Map ? sorted.get("order") : null;
    if (order === null || order.kind != Kind.Array) {
      log.error("planner: graph service `topologicalSort` answered without an `order` array");
      return E_GRAPH_FAILED;
    }
    answer("order", plan, order);
    return 0;
  }
  if (graphStatus() != GRAPH_SERVICE_ERROR || graphErrorCode() != "GRAPH_CYCLE") return graphFailed("topologicalSort");
  const cycle = cycleOf();
  if (cycle === null) return graphFailed("findCycle");
  // Other clients' nodes share the graph; a cycle among them says nothing about this plan.
  if (!allOurs(plan, cycle)) {
    log.error("planner: the graph has a cycle outside this plan's nodes (another namespace), so it cannot be sorted");
    return E_GRAPH_FAILED;
  }
  answer("cycle", plan, cycle);
  return 0;
});
