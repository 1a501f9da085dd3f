// Which sync keys the agent leaves alone, on both sides: an ignored local file is not uploaded,
// an ignored remote object is neither downloaded nor deleted. .gitignore syntax (`ignore` package).

import ignore, { type Ignore } from 'ignore';
import { TEMP_PREFIX, TRASH_DIR } from './paths.js';

/** Anything that can tell whether a sync key is ignored (the scanner takes this). */
export interface PathMatcher {
  /** `path` is a sync key ('/'-separated, no leading '/'); `isDir` lets `foo/` patterns match the folder itself. */
  ignores(path: string, isDir?: boolean): boolean;
}

/**
 * The agent's own files: never synced, and a user pattern cannot un-ignore them (a `!` rule would
 * sync half-written downloads or the trash back and forth).
 */
export const AGENT_IGNORES = [`${TEMP_PREFIX}*`, `${TRASH_DIR}/`] as const;

/** Editor swap, backup and lock files (vim, emacs, Office, Finder, Explorer): a user `!` rule may re-include them. */
export const EDITOR_IGNORES = ['*.swp', '*~', '4913', '~$*', '.DS_Store', 'Thumbs.db'] as const;

/** Every built-in pattern (PRODUCT.md §3), besides the stateDir, which is matched by path. */
export const BUILTIN_IGNORES: readonly string[] = [...AGENT_IGNORES, ...EDITOR_IGNORES];

export interface IgnoreOptions {
  /** The pair's `ignore` list, .gitignore syntax, applied after the editor built-ins. */
  readonly patterns: readonly string[];
  /**
   * The stateDir relative to the local root ('/'-separated), when it lies inside the root.
   * @default undefined (the stateDir is elsewhere)
   */
  readonly stateDirRel?: string | undefined;
}

/**
 * Answers cached by one `ignore` instance before it is replaced by a fresh one. The package caches
 * every path it is asked about (and each parent folder) for the instance's life: in a daemon that
 * is one entry per name ever seen, ~20 MiB at 100,000 files and growing with every temp file and
 * rename (bench/daemon.md). Rebuilding from the patterns takes microseconds; the cache it drops
 * only saves re-testing parent folders.
 */
export const IGNORE_CACHE_LIMIT = 10_000;

/**
 * Builds the pair's matcher. Matching is case-sensitive, like git on Linux: `*.tmp` does not
 * ignore `A.TMP`.
 */
export function createIgnore(opts: IgnoreOptions): PathMatcher {
  const userPatterns = [...EDITOR_IGNORES, ...opts.patterns];
  // The agent's own patterns sit apart only so that a user `!` rule cannot un-ignore them. With no
  // `!` rule the two sets ignore exactly what one set of both does, and one matcher tests each
  // path once: 0.18 s per 100,000 new paths instead of 0.34–0.49 s.
  const canReinclude = opts.patterns.some((p) => p.startsWith('!'));
  const build = (): { agent: Ignore; user: Ignore | undefined } =>
    canReinclude
      ? { agent: ignore({ ignorecase: false }).add([...AGENT_IGNORES]), user: ignore({ ignorecase: false }).add(userPatterns) }
      : { agent: ignore({ ignorecase: false }).add([...AGENT_IGNORES, ...userPatterns]), user: undefined };
  let m = build();
  let asked = 0;
  const stateDir = normaliseRel(opts.stateDirRel);
  return {
    ignores(p: string, isDir = false): boolean {
      // The root itself is never ignored; `ignore` also throws on paths it calls invalid.
      if (p === '' || !ignore.isPathValid(p)) return false;
      if (stateDir !== undefined && (p === stateDir || p.startsWith(`${stateDir}/`))) return true;
      if (++asked > IGNORE_CACHE_LIMIT) {
        m = build();
        asked = 1;
      }
      // `foo/` patterns only match a folder when the tested path ends with '/'.
      const q = isDir ? `${p}/` : p;
      return m.agent.ignores(q) || (m.user?.ignores(q) ?? false);
    },
  };
}

/**
 * The matcher with every answer kept, for one pass: the walk and the listing ask about the same
 * keys, and the matcher itself forgets (IGNORE_CACHE_LIMIT), so at 100,000 files the listing's
 * asks cost another 0.3–0.45 s of the main thread while pages wait. Dropped with the pass.
 */
export function rememberAnswers(m: PathMatcher): PathMatcher {
  const files = new Map<string, boolean>();
  const dirs = new Map<string, boolean>();
  return {
    ignores(p: string, isDir = false): boolean {
      const known = isDir ? dirs : files;
      let answer = known.get(p);
      if (answer === undefined) known.set(p, (answer = m.ignores(p, isDir)));
      return answer;
    },
  };
}

/** `./.sync-agent/` -> `.sync-agent`; '' or a path outside the root -> undefined. */
function normaliseRel(rel: string | undefined): string | undefined {
  if (rel === undefined) return undefined;
  const segs = rel.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.length === 0 || segs.includes('..')) return undefined;
  return segs.join('/').normalize('NFC');
}
