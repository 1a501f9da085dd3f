// Parses the manifest file's text without holding the event loop for all of it at once. At
// 100,000 entries the file is 24 MB of JSON and one JSON.parse of it took ~0.4 s in one block.
// `--reconcile` sends its first listing request before the manifest is read (EarlyListing), so
// that block kept the first page's response unread and the next request unsent: page 0 took
// 0.51 s where s3-sync-client's took 0.18 s (bench/results.md §15).
//
// The writer (manifestChunks) puts a newline after the comma between two entries. JSON never
// holds a raw newline inside a string, so every newline in the file is whitespace between
// members, and cutting there gives runs of whole entries, found with indexOf alone (a scan of
// the JSON for its structure cost 0.15–0.2 s at 100,000 entries, half the parse it was to spare).

import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Characters of entries parsed per turn of the event loop. At 256 KiB the longest turn of a
 * 100,000-entry load was 23–34 ms (1 MiB: 40–55 ms), for the same total. @default 256 KiB
 */
const PIECE_CHARS = 1 << 18;

const ENTRIES = '"entries":{';

/**
 * `JSON.parse(text)` for a manifest document, but with its entries as a Map built a piece at a
 * time, handing the event loop back between pieces. Same entries and values; a key met twice keeps
 * its first place and its last value, as with JSON.parse. The layout this relies on: the only
 * '{' before `"entries":{` is the document's own, and the text ends with the entries' '}' and the
 * document's. Anything else (an older file has no newlines: one piece; a file edited by hand: any
 * layout) still parses, as one piece or whole; a piece that does not parse sends the whole text to
 * JSON.parse, so a damaged file fails with JSON.parse's own SyntaxError.
 */
export async function parseManifestText(text: string, pieceChars = PIECE_CHARS): Promise<unknown> {
  const at = text.indexOf(ENTRIES);
  const open = at + ENTRIES.length - 1;
  const close = text.length - 2;
  if (at === -1 || text.indexOf('{', 1) !== open || !text.endsWith('}}') || close < open) return JSON.parse(text) as unknown;
  let head: unknown;
  try {
    head = JSON.parse(`${text.slice(0, open)}{}}`);
  } catch {
    return JSON.parse(text) as unknown;
  }
  if (head === null || typeof head !== 'object' || Array.isArray(head)) return JSON.parse(text) as unknown;
  const entries = new Map<string, unknown>();
  let start = open + 1;
  for (;;) {
    // A cut is a newline right after a comma; without one far enough on, the rest is one piece.
    let nl = text.indexOf('\n', start + pieceChars);
    while (nl !== -1 && nl < close && text.charCodeAt(nl - 1) !== 0x2c) nl = text.indexOf('\n', nl + 1);
    const cut = nl === -1 || nl >= close ? close : nl;
    let piece: Record<string, unknown>;
    try {
      // Without the comma before the cut: the piece is a run of whole members.
      piece = JSON.parse(`{${text.slice(start, cut === close ? close : cut - 1)}}`) as Record<string, unknown>;
    } catch {
      return JSON.parse(text) as unknown;
    }
    // for...in over JSON.parse's object: own keys only, in the order Object.entries gives them.
    let members = 0;
    for (const k in piece) {
      entries.set(k, piece[k]);
      members++;
    }
    // A comma cut out must stand between two members: `{"a":1,\n}` is not JSON.
    if (members === 0 && (start !== open + 1 || cut !== close)) return JSON.parse(text) as unknown;
    if (cut === close) break;
    start = cut + 1;
    await nextTurn();
  }
  return { ...head, entries };
}
