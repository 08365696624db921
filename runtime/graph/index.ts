// Public surface of the graph compute service: engine, ledger, parsing, protocol, server and client.
export { Graph, type Attributes, type Direction, type EdgeJSON, type GraphJSON, type NodeJSON } from './graph.ts';
export { GraphError, isGraphError, type GraphErrorCode } from './errors.ts';
export { topologicalSort, findCycle } from './toposort.ts';
export { shortestPath, shortestPathLengths, type ShortestPath, type ShortestPathOptions } from './shortest-path.ts';
export { subgraphMatch, type SubgraphMatchOptions, type SubgraphMatchResult } from './vf2.ts';
export { GraphStore, type GraphStoreOptions, type LedgerSlice, type Transaction } from './ledger.ts';
export type { GraphOp } from './ops.ts';
export { GraphServer, serveGraph, type GraphServerOptions } from './server.ts';
export { GraphClient, parseGraphUrl, type GraphClientOptions, type RequestOptions } from './client.ts';
export { GraphNamespaces, DEFAULT_NAMESPACE, checkNamespace } from './namespaces.ts';
export { graphRequestChannel, type GraphRequestEvent } from './dispatch.ts';
export {
  DEFAULT_MAX_FRAME_BYTES,
  FrameDecoder,
  encodeFrame,
  type RequestMessage,
  type ResponseMessage,
  type WireError,
} from './protocol.ts';
export type { ParseOptions, ParseReport, ParseResult, SkippedFile } from './parse/parse.ts';

import type { ParseOptions, ParseResult } from './parse/parse.ts';

/** Parses one source file; web-tree-sitter and the grammars load on the first call. */
export async function parseFile(path: string, options?: ParseOptions & { source?: string }): Promise<ParseResult> {
  return (await import('./parse/parse.ts')).parseFile(path, options);
}

/** Parses every Python/TypeScript/JavaScript file under `root` (no symlinks followed). */
export async function parseRepository(root: string, options?: ParseOptions): Promise<ParseResult> {
  return (await import('./parse/parse.ts')).parseRepository(root, options);
}
