// Small HTTP helpers shared by the emulator's handlers. Every answer is JSON or empty, because
// the SDK rejects any other body (even on errors) with JSONResponseFormatError.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Refusal } from './auth.js';

/** What a handler answers; `body` undefined means an empty body. */
export interface Reply {
  readonly status: number;
  readonly body?: unknown;
}

export const ok = (body?: unknown): Reply => ({ status: 200, body });
export const fail = (status: number, error: string): Reply => ({ status, body: { error } });
export const refuse = (r: Refusal): Reply => fail(r.status, r.error);

export function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** Reads a whole (small) request body. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Consumes and discards whatever is left of a request body, so the client sees the answer. */
export async function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded) return;
  req.resume();
  await new Promise<void>((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', () => resolve());
  });
}

export const headerValue = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export const splitUrl = (url: string): { path: string; query: URLSearchParams } => {
  const q = url.indexOf('?');
  return q < 0
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
};
