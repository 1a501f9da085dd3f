// Fixture vocabulary for planner tests (Mutagen style): rows read like sentences.
//   L1, L2, L3   local versions with content h1, h2, h3 (h3 has h1's size: only the hash differs)
//   R1, R2, R3   remote versions: token t1/t2/t3, hash h1/h2/h3
//   B(L1, R1)    a base entry both sides agreed on; Bk(R1) / Bk(L1) a keep-tombstone (one side)
//   touched(L1)  same content, new stat; retokened(R1) same hash, new token; unhashed(R2) no hash
// Plus a pure simulator of the executor's contract, so tests can check "plan again → nothing".

import { conflictName, conflictWinner } from '../../agent/conflicts.js';
import { localBaseOf, remoteBaseOf } from '../../agent/classify.js';
import type {
  Action,
  BaseEntry,
  DeleteMode,
  Direction,
  LocalFile,
  Plan,
  RemoteObject,
} from '../../agent/types.js';

export type LocalV = Omit<LocalFile, 'path'>;
export type RemoteV = Omit<RemoteObject, 'path'>;

export const L1: LocalV = { size: 100, mtimeMs: 1_000, ino: 7, hash: 'h1' };
export const L2: LocalV = { size: 200, mtimeMs: 2_000, ino: 7, hash: 'h2' };
export const L3: LocalV = { size: 100, mtimeMs: 3_000, ino: 7, hash: 'h3' };
export const R1: RemoteV = { size: 100, token: 't1', hash: 'h1', mtimeMs: 1_000, uploadedMs: 1_100 };
export const R2: RemoteV = { size: 200, token: 't2', hash: 'h2', mtimeMs: 2_000, uploadedMs: 2_100 };
export const R3: RemoteV = { size: 100, token: 't3', hash: 'h3', mtimeMs: 3_000, uploadedMs: 3_100 };

/** Same bytes, new stat (a `touch`, or a copy back in place). */
export const touched = (l: LocalV): LocalV => ({ ...l, mtimeMs: l.mtimeMs + 500, ino: l.ino + 1 });
/** Same hash, new token (a re-upload of the same bytes). */
export const retokened = (r: RemoteV): RemoteV => ({ ...r, token: `${r.token}'` });
/** A token that is not a hash (multipart ETag): content unknown until downloaded. */
export const unhashed = (r: RemoteV): RemoteV => {
  const { hash: _hash, ...rest } = r;
  return { ...rest, token: `${r.token}-mp` };
};

const isRemote = (v: LocalV | RemoteV): v is RemoteV => 'token' in v;
const localBase = (l: LocalV): NonNullable<BaseEntry['local']> => {
  const b = localBaseOf({ ...l, path: '' });
  if (b === undefined) throw new Error('fixture local versions always carry a hash');
  return b;
};
const remoteBase = (r: RemoteV): NonNullable<BaseEntry['remote']> => remoteBaseOf({ ...r, path: '' });

/** A base entry both sides agreed on. */
export const B = (l: LocalV, r: RemoteV): BaseEntry => ({ local: localBase(l), remote: remoteBase(r) });
/** A keep-tombstone: only the surviving side is remembered. */
export const Bk = (v: LocalV | RemoteV): BaseEntry => (isRemote(v) ? { remote: remoteBase(v) } : { local: localBase(v) });

/** Content of a remote version, by token: fixtures' tokens start with their content's digit. */
export function fixtureContent(token: string): string | undefined {
  const m = /^t(\d)/.exec(token);
  return m ? `h${m[1]}` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Rows

export const ALL_DIRECTIONS: readonly Direction[] = ['both', 'push', 'pull'];
export const ALL_DELETES: readonly DeleteMode[] = ['propagate', 'keep', 'trash'];

export interface RowSpec {
  readonly directions?: readonly Direction[];
  readonly deletes?: readonly DeleteMode[];
  /** @default true */
  readonly canMoveRemote?: boolean;
  readonly base?: Readonly<Record<string, BaseEntry>>;
  readonly local?: Readonly<Record<string, LocalV>>;
  readonly remote?: Readonly<Record<string, RemoteV>>;
  readonly scope?: readonly string[];
  /** Expected actions in describeAction form, in order. */
  readonly actions: readonly string[];
  /** Expected record-only base updates. @default {} */
  readonly updates?: Readonly<Record<string, BaseEntry | null>>;
}

export interface Row extends Required<Omit<RowSpec, 'scope'>> {
  readonly description: string;
  readonly scope?: readonly string[];
}

export function row(description: string, spec: RowSpec): Row {
  return {
    description,
    directions: spec.directions ?? ALL_DIRECTIONS,
    deletes: spec.deletes ?? ALL_DELETES,
    canMoveRemote: spec.canMoveRemote ?? true,
    base: spec.base ?? {},
    local: spec.local ?? {},
    remote: spec.remote ?? {},
    actions: spec.actions,
    updates: spec.updates ?? {},
    ...(spec.scope === undefined ? {} : { scope: spec.scope }),
  };
}

/** One line per action, like `--dry-run` (trash deletes say so). */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'upload':
      return `upload ${a.path}`;
    case 'download':
      return `download ${a.path}`;
    case 'deleteRemote':
      return `${a.trash ? 'trash' : 'delete'}-remote ${a.path}`;
    case 'deleteLocal':
      return `${a.trash ? 'trash' : 'delete'}-local ${a.path}`;
    case 'moveRemote':
      return `move ${a.from} -> ${a.path}`;
    case 'conflict':
      return `conflict ${a.path}`;
  }
}

// ---------------------------------------------------------------------------------------------
// A pure world and a simulator of what the executor does when every action succeeds

export interface World {
  readonly base: ReadonlyMap<string, BaseEntry>;
  readonly local: ReadonlyMap<string, LocalFile>;
  readonly remote: ReadonlyMap<string, RemoteObject>;
  /** token → content, for remote versions whose hash the listing does not tell. */
  readonly contents: ReadonlyMap<string, string>;
}

export function worldOf(r: Pick<Row, 'base' | 'local' | 'remote'>): World {
  const contents = new Map<string, string>();
  for (const v of Object.values(r.remote)) contents.set(v.token, v.hash ?? fixtureContent(v.token) ?? '?');
  return {
    base: new Map(Object.entries(r.base)),
    local: new Map(Object.entries(r.local).map(([p, v]) => [p, { ...v, path: p }])),
    remote: new Map(Object.entries(r.remote).map(([p, v]) => [p, { ...v, path: p }])),
    contents,
  };
}

/** Content of a remote object in a world. */
export function contentOf(w: Pick<World, 'contents'>, obj: RemoteObject): string {
  const c = obj.hash ?? w.contents.get(obj.token);
  if (c === undefined) throw new Error(`no content known for token ${obj.token}`);
  return c;
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('simulate: local files in tests always carry a hash');
  return v;
}

/** The sizes the simulator gives each content (fixtures: h1 and h3 share a size). */
export type SizeOf = (content: string) => number;

/**
 * Applies a plan as if every action succeeded, following the executor's contract: each
 * action's result sets the base of every path it touched (results override record-only
 * updates, as in applyResults). Throws when an action's expectations do not match the world:
 * nothing moves between planning and executing here, so a mismatch is a planner bug.
 */
export function simulate(w: World, p: Plan, passTime: Date, sizeOf: SizeOf): World {
  const base = new Map(w.base);
  const local = new Map(w.local);
  const remote = new Map(w.remote);
  const contents = new Map(w.contents);
  let serial = 0;
  const stamp = () => `sim${++serial}`;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`simulate: ${what} does not match the world`);
  };

  const put = (path: string, content: string, mtimeMs: number): RemoteObject => {
    const obj: RemoteObject = { path, size: sizeOf(content), token: `${content}#${stamp()}`, hash: content, mtimeMs };
    contents.set(obj.token, content);
    remote.set(path, obj);
    return obj;
  };
  const write = (path: string, content: string, mtimeMs: number): LocalFile => {
    const file: LocalFile = { path, size: sizeOf(content), mtimeMs, ino: 1_000 + serial++, hash: content };
    local.set(path, file);
    return file;
  };
  const agreed = (l: LocalFile, r: RemoteObject): BaseEntry => ({ local: must(localBaseOf(l)), remote: remoteBaseOf(r) });
  const pull = (path: string, obj: RemoteObject, to = path) =>
    write(to, contentOf({ contents }, obj), obj.mtimeMs ?? obj.uploadedMs ?? 0);

  const results = new Map<string, BaseEntry | null>();
  for (const a of p.actions) {
    switch (a.kind) {
      case 'upload': {
        expect(same(local.get(a.path), a.local) && same(remote.get(a.path) ?? null, a.expectRemote), `upload ${a.path}`);
        results.set(a.path, agreed(a.local, put(a.path, must(a.local.hash), a.local.mtimeMs)));
        break;
      }
      case 'download': {
        expect(same(remote.get(a.path), a.remote) && same(local.get(a.path) ?? null, a.expectLocal), `download ${a.path}`);
        results.set(a.path, agreed(pull(a.path, a.remote), a.remote));
        break;
      }
      case 'deleteRemote':
        expect(same(remote.get(a.path), a.expectRemote), `deleteRemote ${a.path}`);
        remote.delete(a.path);
        results.set(a.path, null);
        break;
      case 'deleteLocal':
        expect(same(local.get(a.path), a.expectLocal), `deleteLocal ${a.path}`);
        local.delete(a.path);
        results.set(a.path, null);
        break;
      case 'moveRemote': {
        expect(same(remote.get(a.from), a.expectRemote) && !remote.has(a.path), `moveRemote ${a.from}`);
        remote.delete(a.from);
        results.set(a.from, null);
        results.set(a.path, agreed(a.local, put(a.path, contentOf({ contents }, a.expectRemote), a.local.mtimeMs)));
        break;
      }
      case 'conflict': {
        expect(same(local.get(a.path), a.local) && same(remote.get(a.path), a.remote), `conflict ${a.path}`);
        const lc = must(a.local.hash);
        const rc = contentOf({ contents }, a.remote);
        if (lc === rc) {
          results.set(a.path, agreed(a.local, a.remote));
          break;
        }
        const winner = a.direction === 'push' ? 'local' : a.direction === 'pull' ? 'remote' : conflictWinner(a.local, a.remote);
        const taken = (c: string) => local.has(c) || remote.has(c) || base.has(c) || results.has(c);
        const copy = conflictName(a.path, passTime, winner === 'local' ? 'remote' : 'local', taken);
        if (winner === 'local') {
          // The remote version is kept under the conflict name (on both sides in `both`).
          const kept = put(copy, rc, a.remote.mtimeMs ?? 0);
          if (a.direction === 'both') results.set(copy, agreed(pull(copy, kept), kept));
          results.set(a.path, agreed(a.local, put(a.path, lc, a.local.mtimeMs)));
        } else {
          // The local version moves aside under the conflict name (and is uploaded in `both`).
          const moved: LocalFile = { ...a.local, path: copy };
          local.delete(a.path);
          local.set(copy, moved);
          if (a.direction === 'both') results.set(copy, agreed(moved, put(copy, lc, moved.mtimeMs)));
          results.set(a.path, agreed(pull(a.path, a.remote), a.remote));
        }
        break;
      }
    }
  }
  for (const [path, e] of [...p.baseUpdates, ...results]) {
    if (e === null || (e.local === undefined && e.remote === undefined)) base.delete(path);
    else base.set(path, e);
  }
  return { base, local, remote, contents };
}
