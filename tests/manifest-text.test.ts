import test from 'ava';
import { emptyManifest, toDocument, type Manifest } from '../state/manifest.js';
import { parseManifestText } from '../state/manifest-text.js';
import { manifestChunks } from '../state/store.js';
import type { BaseEntry } from '../agent/types.js';

const entry = (i: number): BaseEntry => ({
  local: { size: i, mtimeMs: 1_700_000_000_000 + i, ino: 1000 + i, hash: i.toString(16).padStart(32, '0') },
  remote: { token: `"${i.toString(16).padStart(32, '0')}"`, size: i },
});

/** Keys that look like the layout the reader cuts at, or that JSON and objects treat specially. */
const ODD_KEYS = [
  'plain.txt',
  'comma,\nnewline.txt',
  'quote"},\n"fake":{"x":1}.txt',
  'back\\slash\\',
  '\\\\",',
  '123',
  '007',
  '__proto__',
  'constructor',
  'ü/\u2028/😀.txt',
  '"entries":{',
  '',
];

function manifestOf(keys: readonly string[], root = '/root'): Manifest {
  return { ...emptyManifest('p', root, 's3:http://127.0.0.1/b/', 'md5'), entries: new Map(keys.map((k, i) => [k, entry(i)])) };
}

const written = (m: Manifest): string => [...manifestChunks(m)].join('');

/** The parsed document with its entries as [key, value] pairs in order, whatever form they came in. */
function pairs(doc: unknown): { head: Record<string, unknown>; entries: [string, unknown][] } {
  const { entries, ...head } = doc as { entries: Map<string, unknown> | Record<string, unknown> };
  return { head, entries: entries instanceof Map ? [...entries] : Object.entries(entries) };
}

test('pieces of any size give what JSON.parse gives: the same entries, values and order', async (t) => {
  const many = Array.from({ length: 300 }, (_, i) => `dir${i % 7}/file-${i}.txt`);
  for (const keys of [ODD_KEYS, [...ODD_KEYS, ...many], many, []]) {
    const text = written(manifestOf(keys));
    for (const size of [0, 1, 40, 1000, 1 << 18]) {
      t.deepEqual(pairs(await parseManifestText(text, size)), pairs(JSON.parse(text)), `${keys.length} keys, pieces of ${size}`);
    }
  }
});

test('the pieces are parsed on separate turns of the event loop', async (t) => {
  const text = written(manifestOf(Array.from({ length: 200 }, (_, i) => `f${i}`)));
  let turns = 0;
  let done = false;
  const tick = (): void => {
    turns++;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  const doc = await parseManifestText(text, 100);
  done = true;
  t.is(pairs(doc).entries.length, 200);
  t.true(turns >= 50, `${turns} turns`);
});

test('any other layout parses as JSON.parse parses it', async (t) => {
  const m = manifestOf(ODD_KEYS);
  const doc = toDocument(m);
  const texts = {
    'one line (written before the newlines)': JSON.stringify(doc),
    'pretty-printed by hand': JSON.stringify(doc, null, 2),
    'entries first': JSON.stringify(Object.fromEntries([['entries', doc.entries], ...Object.entries(doc).filter(([k]) => k !== 'entries')])),
    'entries twice (the last wins)': JSON.stringify(doc).replace(/}$/, ',"entries":{"only":1}}'),
    'a newline after a comma inside an entry': written(m).replace('"local":{"size":1,', '"local":{"size":1,\n'),
    'trailing whitespace': `${written(m)}\n`,
    "a '{' in the root's name": written(manifestOf(ODD_KEYS, '/root/{x}')),
    'null': 'null',
    'not an object': '[1,2]',
  };
  for (const [name, text] of Object.entries(texts)) {
    const whole = JSON.parse(text) as unknown;
    const parsed = await parseManifestText(text, 10);
    t.deepEqual(whole === null || Array.isArray(whole) ? parsed : pairs(parsed), whole === null || Array.isArray(whole) ? whole : pairs(whole), name);
  }
});

test('damaged text fails with the SyntaxError JSON.parse gives', async (t) => {
  const text = written(manifestOf(ODD_KEYS));
  const damaged = {
    truncated: text.slice(0, Math.floor(text.length / 2)),
    'a piece cut off mid-entry': text.replace(/,\n"back/, ',\n{"back'),
    'a trailing comma': text.replace(/}}$/, ',\n}}'),
    'a trailing comma and spaces': text.replace(/}}$/, ',\n  }}'),
    'a leading comma': text.replace('"entries":{', '"entries":{,\n'),
    'two commas': text.replace(',\n', ',\n,\n'),
    // Ends in '}}' like a whole file, but those close an entry: the last piece cannot balance.
    'cut off after an entry': text.slice(0, text.indexOf('}},\n', text.length / 2) + 2),
    empty: '',
  };
  for (const [name, bad] of Object.entries(damaged)) {
    const expected = t.throws(() => JSON.parse(bad));
    const e = await t.throwsAsync(parseManifestText(bad, 10), { instanceOf: SyntaxError }, name);
    t.is(e?.message, expected?.message, name);
  }
});
