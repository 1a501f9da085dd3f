// Plain data shared by the planner, the executor and the manifest. No logic lives here.

export const DIRECTIONS = ['push', 'pull', 'both'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const DELETE_MODES = ['propagate', 'keep', 'trash'] as const;
export type DeleteMode = (typeof DELETE_MODES)[number];

/** Which content hash the manifest keeps for local files of a pair (decided by the provider). */
export type HashAlgo = 'md5' | 'qetag';

/** A local file as the scanner saw it. `path` is the sync key: '/'-separated, NFC, no leading '/'. */
export interface LocalFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  /**
   * Content hash in the pair's HashAlgo. The scanner fills it when the stat differs from the
   * base (a suspect) and reuses the base hash on a stat match. A file with no local base is left
   * unhashed unless a decision needs it (the remote has its path, or it may be a rename target:
   * cycle.ts filesToHash); an upload of an unhashed file takes its hash from the upload.
   */
  readonly hash?: string;
}

/** A remote object as a listing or a stat saw it. `path` is relative to the remote prefix. */
export interface RemoteObject {
  readonly path: string;
  readonly size: number;
  /** Opaque version token (S3 ETag, Qiniu hash, fs stat signature). Compared by equality only. */
  readonly token: string;
  /** Content hash in the pair's HashAlgo, when the provider knows the token is one. */
  readonly hash?: string;
  /** The file's own mtime from object metadata (`mtime`), when known. */
  readonly mtimeMs?: number;
  /** When the object was written on the server (S3 LastModified, Qiniu putTime). */
  readonly uploadedMs?: number;
}

/** What both sides agreed on last, per side. A missing side means "absent on purpose" (deletes: keep). */
export interface LocalBase {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly hash: string;
}
export interface RemoteBase {
  readonly token: string;
  readonly size: number;
  readonly hash?: string;
}
export interface BaseEntry {
  readonly local?: LocalBase;
  readonly remote?: RemoteBase;
}

/** Snapshots handed to the planner. Paths are already validated sync keys. */
export type LocalSnapshot = ReadonlyMap<string, LocalFile>;
export type RemoteSnapshot = ReadonlyMap<string, RemoteObject>;
export type BaseSnapshot = ReadonlyMap<string, BaseEntry>;

export interface SyncPolicy {
  readonly direction: Direction;
  readonly deletes: DeleteMode;
  /** Provider can move/copy server-side: lets the planner turn delete+add of equal content into a move. */
  readonly canMoveRemote: boolean;
}

/**
 * One thing the executor does. `expect*` fields carry what the planner saw, so the executor can
 * re-check just in time and skip when the world moved (`null` = expected absent).
 */
export type Action =
  | {
      readonly kind: 'upload';
      readonly path: string;
      readonly local: LocalFile;
      readonly expectRemote: RemoteObject | null;
    }
  | {
      readonly kind: 'download';
      readonly path: string;
      readonly remote: RemoteObject;
      readonly expectLocal: LocalFile | null;
    }
  | {
      readonly kind: 'deleteRemote';
      readonly path: string;
      readonly expectRemote: RemoteObject;
      /** true: deletes=trash, move to .sync-agent-trash first. */
      readonly trash: boolean;
    }
  | {
      readonly kind: 'deleteLocal';
      readonly path: string;
      readonly expectLocal: LocalFile;
      readonly trash: boolean;
    }
  | {
      /** Local rename seen as delete + add of the same content: move the object server-side. */
      readonly kind: 'moveRemote';
      readonly path: string;
      readonly from: string;
      readonly local: LocalFile;
      readonly expectRemote: RemoteObject;
    }
  | {
      /**
       * Both sides hold a version the base does not know. The executor first checks whether the
       * contents are equal (adopt, no transfer); otherwise it keeps both versions per `direction`.
       */
      readonly kind: 'conflict';
      readonly path: string;
      readonly local: LocalFile;
      readonly remote: RemoteObject;
      readonly direction: Direction;
      readonly trash: boolean;
    };

export type ActionKind = Action['kind'];

/** A path the agent will not touch, and why (reported as a warning, never a delete). */
export interface Skip {
  readonly path: string;
  readonly side: 'local' | 'remote';
  readonly reason: string;
}

export interface Plan {
  readonly actions: readonly Action[];
  /**
   * Base changes that need no transfer: both sides changed to the same content, both deleted,
   * a touched file whose hash did not change, a delete remembered under deletes=keep.
   * `null` removes the entry.
   */
  readonly baseUpdates: ReadonlyMap<string, BaseEntry | null>;
}

/** What the executor reports per action: the base entries that really resulted. */
export type ActionResult =
  | {
      readonly status: 'done';
      readonly action: Action;
      /** New base per path this action touched (a conflict touches several); `null` removes. */
      readonly updates: ReadonlyMap<string, BaseEntry | null>;
      readonly bytes: number;
      /** Extra paths created (conflict copies, trash entries), for the log and the summary. */
      readonly note?: string;
    }
  | {
      /** The world moved since planning (just-in-time check); nothing done, re-planned next pass. */
      readonly status: 'stale';
      readonly action: Action;
      readonly reason: string;
    }
  | {
      readonly status: 'failed';
      readonly action: Action;
      readonly error: string;
    };
