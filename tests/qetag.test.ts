// qetag, Kodo's content hash, against the vectors of qiniu-protocol.md §4: in memory, streamed
// from real files, and fed in awkward chunkings across the 4 MiB block boundary.

import test from 'ava';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashBuffer, hashFile, QetagHasher } from '../agent/hasher.js';
import { tmpDir } from './helpers/tmp.js';

const MiB = 1024 * 1024;
const pattern = (size: number): Buffer => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = i % 256;
  return b;
};

const VECTORS: readonly { name: string; data: () => Buffer; qetag: string; md5?: string }[] = [
  { name: 'empty', data: () => Buffer.alloc(0), qetag: 'Fto5o-5ea0sNMlW_75VgGJCv2AcJ', md5: 'd41d8cd98f00b204e9800998ecf8427e' },
  { name: 'hello', data: () => Buffer.from('hello'), qetag: 'Fqr0xh3cxeii2r7eDztILNmuqUNN', md5: '5d41402abc4b2a76b9719d911017c592' },
  { name: 'hello world\\n', data: () => Buffer.from('hello world\n'), qetag: 'FiJZY2Oz3kCwb5gfuF2CMS6MDtUR', md5: '6f5902ac237024bdd0c176cb93063dc4' },
  { name: '4 MiB of 0x00', data: () => Buffer.alloc(4 * MiB), qetag: 'FivMvS848VwT631aif2dhfWV4jvD', md5: 'b5cfa9d6c8febd618f91ac2843d50a1c' },
  { name: '4 MiB + 1 of 0x00', data: () => Buffer.alloc(4 * MiB + 1), qetag: 'lhCFgki5yzon0rjN9uJusf6qtsF6' },
  { name: '8 MiB of "a"', data: () => Buffer.alloc(8 * MiB, 'a'), qetag: 'lne6DpQaoBdMk9ZF2gyHXgiAM51E' },
  { name: '9 MiB, byte i = i % 256', data: () => pattern(9 * MiB), qetag: 'ljlanhukeOaPUVX4zvhETyfDHcT4', md5: '2a43a3f3d5b1a13f0b4c3369040d0919' },
];

for (const v of VECTORS) {
  test(`qetag of ${v.name} in memory`, (t) => {
    const data = v.data();
    t.is(hashBuffer(data, 'qetag'), v.qetag);
    t.is(v.qetag.length, 28);
    if (v.md5) t.is(hashBuffer(data, 'md5'), v.md5);
  });

  test(`qetag of ${v.name} streamed from a file`, async (t) => {
    const dir = await tmpDir();
    t.teardown(dir.cleanup);
    const file = path.join(dir.path, 'data.bin');
    await writeFile(file, v.data());
    t.is(await hashFile(file, 'qetag'), v.qetag);
    if (v.md5) t.is(await hashFile(file, 'md5'), v.md5);
  });
}

test('qetag does not depend on how the bytes are chunked', (t) => {
  const data = pattern(9 * MiB);
  // Chunks that straddle the 4 MiB block boundary, and an odd prime size.
  for (const size of [1 + 4 * MiB, 4 * MiB - 1, 65_537, 3 * MiB]) {
    const h = new QetagHasher();
    for (let i = 0; i < data.length; i += size) h.update(data.subarray(i, i + size));
    t.is(h.digest(), 'ljlanhukeOaPUVX4zvhETyfDHcT4', `chunks of ${size}`);
  }
  const tiny = new QetagHasher();
  for (const byte of Buffer.from('hello')) tiny.update(Buffer.from([byte]));
  t.is(tiny.digest(), 'Fqr0xh3cxeii2r7eDztILNmuqUNN');
});

test('qetag is 0x16 + SHA-1 for one block and 0x96 + SHA-1 of block SHA-1s for more', (t) => {
  const one = Buffer.from('hello');
  const expectOne = Buffer.concat([Buffer.from([0x16]), createHash('sha1').update(one).digest()]).toString('base64url');
  t.is(hashBuffer(one, 'qetag'), expectOne);
  const two = Buffer.alloc(4 * MiB + 1);
  const blocks = [two.subarray(0, 4 * MiB), two.subarray(4 * MiB)].map((b) => createHash('sha1').update(b).digest());
  const expectTwo = Buffer.concat([Buffer.from([0x96]), createHash('sha1').update(Buffer.concat(blocks)).digest()]).toString('base64url');
  t.is(hashBuffer(two, 'qetag'), expectTwo);
});
