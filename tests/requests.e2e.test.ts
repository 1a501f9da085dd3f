// What a pass costs in requests (S3 bills them, and each one is a round trip), counted on the
// server: a first upload sends one PUT per file and nothing else per file on a store with
// conditional writes (a HEAD more on one without), and a no-op pass sends only the listing.

import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { startS3Server, type S3Server } from './helpers/s3-server.js';
import { createWorld } from './helpers/world.js';
import { NOTHING, summaryOf, type CliResult } from './helpers/cli.js';
import type { ManifestDocument } from '../state/manifest.js';
import { createHash } from 'node:crypto';

let enforcing: S3Server;
let ignoring: S3Server;

test.before(async () => {
  [enforcing, ignoring] = await Promise.all([startS3Server(), startS3Server({ conditionalWrites: false })]);
});
test.after.always(async () => {
  await Promise.all([enforcing?.stop(), ignoring?.stop()]);
});

const FILES = 40;
const why = (r: CliResult): string => `exit ${r.code}\n${r.stderr}\n${r.stdout.slice(-2000)}`;
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

for (const store of [
  // A listing, then per file one PUT; the conditional-write probe once (one refused PUT).
  { name: 'with conditional writes', server: () => enforcing, perFile: 1, fixed: 1 + 1 },
  // A listing, then per file a HEAD and a PUT; the probe once (its PUT goes through, then a DELETE).
  { name: 'without conditional writes', server: () => ignoring, perFile: 2, fixed: 1 + 2 },
] as const) {
  test.serial(`a first upload of ${FILES} files (${store.name}) sends ${store.perFile} request(s) per file; a no-op only lists`, async (t) => {
    const server = store.server();
    const w = await createWorld(server);
    t.teardown(w.cleanup);
    for (let i = 0; i < FILES; i++) await writeFile(path.join(w.local, `f${i}.txt`), `file ${i}`);

    await server.resetStats();
    const first = await w.run();
    t.is(first.code, 0, why(first));
    t.is(summaryOf(first), `uploaded ${FILES}, downloaded 0, deleted 0, conflicts 0, failed 0`);
    const stats = await server.stats();
    t.is(stats.requests, store.fixed + store.perFile * FILES, JSON.stringify(stats));
    t.deepEqual((await w.keys()).length, FILES);

    // The hashes kept for the next pass are the files' own md5s, whether read or taken from the PUT.
    const m = JSON.parse(await readFile(w.manifest, 'utf8')) as ManifestDocument;
    for (let i = 0; i < FILES; i++) t.is(m.entries[`f${i}.txt`]?.local?.hash, md5(`file ${i}`), `f${i}.txt`);

    await server.resetStats();
    const noop = await w.run();
    t.is(summaryOf(noop), NOTHING);
    t.is((await server.stats()).requests, 1, 'one listing page');
  });
}

for (const store of [
  // A listing; the conditional-delete probe once (a PUT, a refused DeleteObjects); one DeleteObjects
  // carrying each path's listed ETag (the probe's object goes with it).
  { name: 'with conditional deletes', server: () => enforcing, perDelete: 0, fixed: 1 + 2 + 1 },
  // A listing; the probe (a PUT, a DeleteObjects that deletes it); then a HEAD and a DELETE per path.
  { name: 'without conditional deletes', server: () => ignoring, perDelete: 2, fixed: 1 + 2 },
] as const) {
  test.serial(`deleting ${FILES / 2} files remotely (${store.name}) sends ${store.perDelete} request(s) per delete, and leaves nothing behind`, async (t) => {
    const server = store.server();
    const w = await createWorld(server);
    t.teardown(w.cleanup);
    for (let i = 0; i < FILES; i++) await writeFile(path.join(w.local, `f${i}.txt`), `file ${i}`);
    t.is((await w.run()).code, 0);
    for (let i = 0; i < FILES / 2; i++) await rm(path.join(w.local, `f${i}.txt`));

    await server.resetStats();
    const r = await w.run();
    t.is(r.code, 0, why(r));
    t.is(summaryOf(r), `uploaded 0, downloaded 0, deleted ${FILES / 2}, conflicts 0, failed 0`);
    t.is((await server.stats()).requests, store.fixed + store.perDelete * (FILES / 2), JSON.stringify(await server.stats()));
    // Exactly the files still here are in the bucket (no probe object either), and the next pass has nothing to do.
    t.deepEqual((await w.keys()).sort(), Array.from({ length: FILES / 2 }, (_, i) => `f${i + FILES / 2}.txt`).sort());
    t.is(summaryOf(await w.run()), NOTHING);
  });
}
