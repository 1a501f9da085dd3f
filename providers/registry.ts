// createProvider(config) by provider name. SDKs are imported lazily so an fs-only agent starts
// fast and never loads the AWS or Qiniu SDKs.

import type { RemoteConfig } from '../agent/config.js';
import type { RemoteProvider } from './provider.js';

export async function createProvider(remote: RemoteConfig, env: NodeJS.ProcessEnv = process.env): Promise<RemoteProvider> {
  switch (remote.provider) {
    case 'fs': {
      const { createFsProvider } = await import('./fs.js');
      return createFsProvider({ root: remote.path });
    }
    case 's3': {
      const { createS3Provider } = await import('./s3.js');
      return createS3Provider(remote);
    }
    case 'qiniu': {
      const { createQiniuProvider } = await import('./qiniu.js');
      return createQiniuProvider(remote, env);
    }
  }
}

/** A one-line description of a remote for logs and status (never a credential). */
export function describeRemote(remote: RemoteConfig): string {
  switch (remote.provider) {
    case 'fs':
      return `fs:${remote.path}`;
    case 's3':
      return `s3://${remote.bucket}/${remote.prefix ?? ''}${remote.endpoint ? ` (${remote.endpoint})` : ''}`;
    case 'qiniu':
      return `qiniu://${remote.bucket}/${remote.prefix ?? ''}`;
  }
}
