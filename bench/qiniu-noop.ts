// Benchmark: how long the Qiniu provider takes to list a 5,000-object remote on the local Kodo
// emulator (real SDK, signatures checked). This is the remote half of a no-op reconcile pass.
// Run by hand: node --import tsx bench/qiniu-noop.ts [objects] [runs]
//
// Result (shared 2-core box, Node 20.20, emulator in the same process):
//   5000 objects in 5 pages: first run 97 ms, median 23 ms, best 18.5 ms (about 5 µs per object).
// The emulator answers instantly, so this measures the SDK, signing, JSON and mapping cost; on
// the real service add 5 round trips (one per 1,000 keys).

import { performance } from 'node:perf_hooks';
import { createQiniuProvider } from '../providers/qiniu.js';
import { startQiniuEmulator } from '../tests/helpers/qiniu-emulator.js';

const OBJECTS = Number(process.argv[2] ?? 5000);
const RUNS = Number(process.argv[3] ?? 7);
const KEYS = { accessKey: 'bench-ak', secretKey: 'bench-sk' };

const emu = await startQiniuEmulator({ ...KEYS, buckets: ['bench'] });
try {
  // Keys shaped like a real tree: 50 folders, names with spaces and unicode.
  for (let i = 0; i < OBJECTS; i++) {
    await emu.seed('bench', `sync/dir ${i % 50}/file-ü-${String(i).padStart(5, '0')}.txt`, `content ${i}`, { mtime: '1700000000.5' });
  }
  const provider = await createQiniuProvider(
    { provider: 'qiniu', bucket: 'bench', prefix: 'sync', domain: emu.downloadUrl, hosts: { up: emu.apiUrl, rs: emu.apiUrl, rsf: emu.apiUrl } },
    { QINIU_ACCESS_KEY: KEYS.accessKey, QINIU_SECRET_KEY: KEYS.secretKey },
  );
  const times: number[] = [];
  let pages = 0;
  let listed = 0;
  for (let run = 0; run < RUNS; run++) {
    const start = performance.now();
    pages = 0;
    listed = 0;
    for await (const page of provider.list()) {
      pages += 1;
      listed += page.length;
    }
    times.push(performance.now() - start);
  }
  await provider.close?.();
  if (listed !== OBJECTS) throw new Error(`listed ${listed} objects, expected ${OBJECTS}`);
  const sorted = [...times].sort((a, b) => a - b);
  const ms = (v: number | undefined): string => `${(v ?? NaN).toFixed(1)} ms`;
  console.log(`qiniu list: ${OBJECTS} objects in ${pages} pages, ${RUNS} runs (first run includes warm-up)`);
  console.log(`  first ${ms(times[0])}, median ${ms(sorted[Math.floor(sorted.length / 2)])}, best ${ms(sorted[0])}, worst ${ms(sorted.at(-1))}`);
  console.log(`  median per object ${((sorted[Math.floor(sorted.length / 2)] ?? 0) / OBJECTS * 1000).toFixed(1)} µs; requests served: ${emu.stats().total}`);
} finally {
  await emu.stop();
}
