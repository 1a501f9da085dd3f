import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { createLogger, LogLevelError, REDACTED } from '../agent/log.js';

/** A destination that keeps everything written to it. */
function sink(): { stream: Writable; text: () => string; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const text = () => chunks.join('');
  const lines = () =>
    text()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, text, lines };
}

test('one JSON line per event, with level name, ISO time and the child bindings', (t) => {
  const out = sink();
  const log = createLogger({ pretty: false, level: 'info', destination: out.stream });
  const pairLog = log.child({ pair: 'docs' });
  pairLog.info({ event: 'upload', path: 'a/b.txt', bytes: 1234, ms: 56 }, 'uploaded a/b.txt');
  pairLog.warn({ event: 'skip', path: 'bad\u0001name', reason: 'control character' }, 'skipped');
  pairLog.debug({ event: 'noise' }, 'not at info');
  const lines = out.lines();
  t.is(lines.length, 2);
  t.like(lines[0], { level: 'info', pair: 'docs', event: 'upload', path: 'a/b.txt', bytes: 1234, ms: 56, msg: 'uploaded a/b.txt' });
  t.false(Number.isNaN(Date.parse(String(lines[0]?.time))));
  t.like(lines[1], { level: 'warn', event: 'skip', path: 'bad\u0001name' });
});

test('credentials never reach a log line, at any depth, in bindings or headers', (t) => {
  const out = sink();
  const log = createLogger({ pretty: false, destination: out.stream });
  const secrets = ['AKIA-SECRET-1', 'wJalr-SECRET-2', 'session-SECRET-3', 'qiniu-SECRET-4', 'qiniu-SECRET-5', 'pw-SECRET-6', 'tok-SECRET-7', 'AWS4-SECRET-8', 'sts-SECRET-9', 'cred-SECRET-10'];
  const child = log.child({ pair: 'docs', remote: { provider: 's3', secretAccessKey: secrets[1] } });
  const fields = {
    event: 'config',
    accessKeyId: secrets[0],
    remote: { credentials: { accessKeyId: secrets[0], secretAccessKey: secrets[1], sessionToken: secrets[2] } },
    qiniu: { accessKey: secrets[3], deeper: { still: { secretKey: secrets[4] } } },
    proxy: { password: secrets[5] },
    auth: [{ token: secrets[6] }],
    request: { headers: { authorization: secrets[7], 'x-amz-security-token': secrets[8] } },
    a: { b: { c: { d: { e: { password: secrets[9] } } } } },
  };
  child.info(fields, 'starting');
  child.error({ event: 'failed', err: Object.assign(new Error('denied'), { token: secrets[6] }) }, 'failed');
  const text = out.text();
  for (const s of secrets) t.false(text.includes(s), `${s} leaked`);
  t.true(text.includes(REDACTED));
  t.is(out.lines().length, 2);
  // The caller's object is left as it was.
  t.is(fields.proxy.password, secrets[5]);
  t.like(out.lines()[0], { event: 'config', qiniu: { accessKey: REDACTED } });
});

test('the level comes from the option, else SYNC_AGENT_LOG_LEVEL; a bad one is a clear error', (t) => {
  const out = sink();
  const saved = process.env.SYNC_AGENT_LOG_LEVEL;
  process.env.SYNC_AGENT_LOG_LEVEL = 'debug';
  try {
    createLogger({ pretty: false, destination: out.stream }).debug({ event: 'scan' }, 'scanned');
    createLogger({ pretty: false, destination: out.stream, level: 'warn' }).info({ event: 'x' }, 'dropped');
    process.env.SYNC_AGENT_LOG_LEVEL = 'loud';
    const err = t.throws(() => createLogger({ destination: out.stream }), { instanceOf: LogLevelError });
    t.regex(err.message, /"loud" is not one of fatal, error, warn, info, debug, trace, silent/);
  } finally {
    if (saved === undefined) delete process.env.SYNC_AGENT_LOG_LEVEL;
    else process.env.SYNC_AGENT_LOG_LEVEL = saved;
  }
  t.deepEqual(
    out.lines().map((l) => l.event),
    ['scan'],
  );
});

test('pretty output is readable text and still redacted', (t) => {
  const out = sink();
  const log = createLogger({ pretty: true, destination: out.stream });
  log.child({ pair: 'docs' }).info({ event: 'upload', path: 'a.txt', secretKey: 'pretty-SECRET' }, 'uploaded a.txt');
  const text = out.text();
  t.regex(text, /INFO.*uploaded a\.txt/);
  t.regex(text, /pair: "docs"/);
  t.false(text.includes('pretty-SECRET'));
  t.throws(() => JSON.parse(text));
});

test('stdout gets every line even when the process exits right after logging', async (t) => {
  const url = pathToFileURL(path.resolve('agent/log.ts')).href;
  const code = `
    const { createLogger } = await import(${JSON.stringify(url)});
    const log = createLogger({ pretty: false });
    for (let i = 0; i < 2000; i++) log.info({ event: 'upload', path: 'f' + i, bytes: i }, 'x'.repeat(200));
    process.exit(3);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.is(exitCode, 3);
  const lines = stdout.split('\n').filter((l) => l !== '');
  t.is(lines.length, 2000);
  t.like(JSON.parse(lines[1999] ?? '{}') as object, { path: 'f1999', bytes: 1999 });
});
