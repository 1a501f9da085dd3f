// Everything one pair needs at run time, opened once: provider, manifest store, ignore rules.

import path from 'node:path';
import type PQueue from 'p-queue';
import type { AgentConfig, PairConfig } from './config.js';
import type { HashAlgo } from './types.js';
import type { RemoteProvider } from '../providers/provider.js';
import type { Logger } from './log.js';
import type { Manifest } from '../state/manifest.js';
import { ManifestStore, type OpenedStore } from '../state/store.js';
import { createProvider } from '../providers/registry.js';
import { createIgnore } from './ignore.js';
import { isInside } from './paths.js';
import { EarlyListing } from './remote-listing.js';

export interface PairRuntime {
  readonly config: AgentConfig;
  readonly pair: PairConfig;
  readonly provider: RemoteProvider;
  readonly store: ManifestStore;
  readonly hashAlgo: HashAlgo;
  readonly stateDir: string;
  readonly ignore: { ignores(p: string, isDir?: boolean): boolean };
  readonly queue: PQueue;
  readonly log: Logger;
  /** The manifest as last committed. */
  manifest: Manifest;
  /** What happened when the manifest was opened (corrupt, restored), for status. */
  readonly recovered?: string;
  /** Raw remote keys whose NFC path differs, from the last listing. */
  rawKeys: Map<string, string>;
  /** On-disk names whose NFC key differs, from the last scan. */
  diskNames: Map<string, string>;
  readonly retries?: number;
  readonly retryMinMs?: number;
  /** A listing started while the pair was opened (OpenPairOptions.listEarly); the next full pass takes it. */
  earlyListing?: EarlyListing;
}

export interface OpenPairOptions {
  readonly queue: PQueue;
  readonly log: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly retries?: number;
  readonly retryMinMs?: number;
  /**
   * Start the remote listing before the manifest is read, for a pass that runs right away (a
   * one-shot --reconcile). Not for remotes that a first pass creates (a folder): their listing
   * must wait for createRoot. @default false
   */
  readonly listEarly?: boolean;
}

export async function openPair(config: AgentConfig, pair: PairConfig, opts: OpenPairOptions): Promise<PairRuntime> {
  const provider = await createProvider(pair.remote, opts.env);
  const stateRel = isInside(pair.local, config.stateDir) ? path.relative(pair.local, config.stateDir).split(path.sep).join('/') : undefined;
  const hashAlgo = provider.features.hash;
  const earlyListing = opts.listEarly && provider.createRoot === undefined ? new EarlyListing(provider) : undefined;
  let opened: OpenedStore;
  try {
    opened = await ManifestStore.open({
      stateDir: config.stateDir,
      pair: pair.name,
      root: pair.local,
      remoteId: provider.features.remoteId,
      hashAlgo,
    });
  } catch (e) {
    earlyListing?.cancel();
    throw e;
  }
  return {
    config,
    pair,
    provider,
    store: opened.store,
    hashAlgo,
    stateDir: config.stateDir,
    ignore: createIgnore({ patterns: pair.ignore, stateDirRel: stateRel }),
    queue: opts.queue,
    log: opts.log.child({ pair: pair.name }),
    manifest: opened.manifest,
    ...(opened.recovered ? { recovered: opened.recovered } : {}),
    rawKeys: new Map(),
    diskNames: new Map(),
    retries: opts.retries,
    retryMinMs: opts.retryMinMs,
    ...(earlyListing ? { earlyListing } : {}),
  };
}
