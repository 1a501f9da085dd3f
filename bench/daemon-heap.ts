// Reads a V8 heap snapshot (node --heapsnapshot-signal, see bench/daemon.ts --snapshot) and says
// what holds the memory: self size by constructor, and the biggest retainers by retained size
// (dominator tree, as Chrome's DevTools computes it: weak edges do not retain).
//   node --max-old-space-size=8192 --import tsx bench/daemon-heap.ts <file.heapsnapshot> [--top 30]

import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface HeapSummary {
  readonly totalBytes: number;
  readonly nodes: number;
  /** Self size summed by type and constructor name. */
  readonly byConstructor: { name: string; count: number; selfBytes: number }[];
  /** Objects that keep the most alive, with the edge that reaches them from their dominator. */
  readonly retainers: { name: string; via: string; selfBytes: number; retainedBytes: number }[];
}

export function summarise(s: Snapshot, top: number): HeapSummary {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const N = nf.length;
  const E = ef.length;
  const [TYPE, NAME, SIZE, EDGES] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [ETYPE, ENAME, ETO] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const count = s.nodes.length / N;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = (firstEdge[i] as number) + (s.nodes[i * N + EDGES] as number) * E;
  const weak = edgeTypes.indexOf('weak');
  const self = (i: number): number => s.nodes[i * N + SIZE] as number;
  const label = (i: number): string => {
    const type = nodeTypes[s.nodes[i * N + TYPE] as number] ?? '?';
    const name = s.strings[s.nodes[i * N + NAME] as number] ?? '?';
    return type === 'object' || type === 'closure' || type === 'native' ? name : `(${type})${type === 'string' || type === 'concatenated string' ? '' : ` ${name.slice(0, 40)}`}`;
  };
  const edgeName = (e: number): string => {
    const t = edgeTypes[s.edges[e + ETYPE] as number];
    const v = s.edges[e + ENAME] as number;
    return t === 'element' || t === 'hidden' ? `[${v}]` : (s.strings[v] ?? '?');
  };
  const targets = (i: number, fn: (to: number, e: number) => void): void => {
    for (let e = firstEdge[i] as number; e < (firstEdge[i + 1] as number); e += E) {
      if (s.edges[e + ETYPE] !== weak) fn((s.edges[e + ETO] as number) / N, e);
    }
  };

  // Post-order from the root (node 0), iteratively.
  const order = new Int32Array(count).fill(-1);
  const post: number[] = [];
  const stack: number[] = [0];
  const cursor = new Uint32Array(count);
  order[0] = -2;
  for (let i = 0; i < count; i++) cursor[i] = firstEdge[i] as number;
  while (stack.length > 0) {
    const i = stack[stack.length - 1] as number;
    let pushed = false;
    while ((cursor[i] as number) < (firstEdge[i + 1] as number)) {
      const e = cursor[i] as number;
      cursor[i] = e + E;
      if (s.edges[e + ETYPE] === weak) continue;
      const to = (s.edges[e + ETO] as number) / N;
      if (order[to] === -1) {
        order[to] = -2;
        stack.push(to);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      stack.pop();
      order[i] = post.length;
      post.push(i);
    }
  }
  // Predecessors, for Cooper-Harvey-Kennedy.
  const predCount = new Uint32Array(count + 1);
  for (const i of post) targets(i, (to) => void (predCount[to + 1] = (predCount[to + 1] as number) + 1));
  for (let i = 0; i < count; i++) predCount[i + 1] = (predCount[i + 1] as number) + (predCount[i] as number);
  const preds = new Uint32Array(predCount[count] as number);
  const fill = predCount.slice(0, count);
  for (const i of post) targets(i, (to) => void (preds[(fill[to] as number)++] = i));
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    while (a !== b) {
      while ((order[a] as number) < (order[b] as number)) a = idom[a] as number;
      while ((order[b] as number) < (order[a] as number)) b = idom[b] as number;
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = post.length - 2; k >= 0; k--) {
      const i = post[k] as number;
      let d = -1;
      for (let p = predCount[i] as number; p < (predCount[i + 1] as number); p++) {
        const q = preds[p] as number;
        if (idom[q] === -1 || (order[q] as number) < 0) continue;
        d = d === -1 ? q : intersect(q, d);
      }
      if (d !== -1 && idom[i] !== d) {
        idom[i] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (const i of post) retained[i] = (retained[i] as number) + self(i);
  for (const i of post) if (i !== 0 && (idom[i] as number) >= 0) retained[idom[i] as number] = (retained[idom[i] as number] as number) + (retained[i] as number);
  // The edge from a node's dominator that reaches it, when there is one.
  const via = (i: number): string => {
    const d = idom[i] as number;
    let name = '';
    targets(d, (to, e) => void (to === i && name === '' && (name = edgeName(e))));
    return `${label(d)}.${name || '…'}`;
  };

  const groups = new Map<string, { count: number; selfBytes: number }>();
  let total = 0;
  for (let i = 0; i < count; i++) {
    const g = groups.get(label(i)) ?? { count: 0, selfBytes: 0 };
    g.count++;
    g.selfBytes += self(i);
    total += self(i);
    groups.set(label(i), g);
  }
  const candidates = post.filter((i) => i !== 0 && (retained[i] as number) > 1 << 20);
  candidates.sort((a, b) => (retained[b] as number) - (retained[a] as number));
  return {
    totalBytes: total,
    nodes: count,
    byConstructor: [...groups].map(([name, g]) => ({ name, ...g })).sort((a, b) => b.selfBytes - a.selfBytes).slice(0, top),
    retainers: candidates.slice(0, top).map((i) => ({ name: label(i), via: via(i), selfBytes: self(i), retainedBytes: retained[i] as number })),
  };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: node --max-old-space-size=8192 --import tsx bench/daemon-heap.ts <file.heapsnapshot> [--top 30]\n');
    process.exit(2);
  }
  const s = JSON.parse(await readFile(file, 'utf8')) as Snapshot;
  const r = summarise(s, Number(values.top));
  const mib = (b: number): string => (b / 1024 ** 2).toFixed(1);
  process.stdout.write(`${file}: ${r.nodes} nodes, ${mib(r.totalBytes)} MiB\n\nself size by constructor (MiB, count):\n`);
  for (const g of r.byConstructor) process.stdout.write(`  ${mib(g.selfBytes).padStart(7)}  ${String(g.count).padStart(9)}  ${g.name}\n`);
  process.stdout.write('\nbiggest retainers (retained MiB, self MiB, name <- reached from):\n');
  for (const x of r.retainers) process.stdout.write(`  ${mib(x.retainedBytes).padStart(7)}  ${mib(x.selfBytes).padStart(6)}  ${x.name}  <- ${x.via}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
