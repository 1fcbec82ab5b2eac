import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../../src/config/load.js';
import { identityHolds } from '../../src/pipeline/counters.js';
import { Station } from '../../src/pipeline/station.js';

const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A PNG that claims width × height in its header and holds 64 bytes of pixels: only a header check can be quick with it. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

test('a 12000×12000 frame on a camera limited to 50 MP is an error verdict from its header, at once; the frames around it are judged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-frame-limit-'));
  try {
    await copyFile(join(TINY, 'samples', 'good-0.png'), join(dir, 'a-good.png'));
    await writeFile(join(dir, 'b-huge.png'), pngHeaderOnly(12_000, 12_000));
    await copyFile(join(TINY, 'samples', 'defect-0.png'), join(dir, 'c-defect.png'));
    const config = parseConfig(
      { model: { bundle: TINY, intraOpThreads: 1 }, cameras: [{ id: 'cam1', source: { type: 'folder', path: dir }, maxFramePixels: 50_000_000 }] },
      'frame limit',
    );
    const station = await Station.start(config, { logger: quiet });
    const all = firstValueFrom(station.verdicts$.pipe(toArray()));
    await station.ended();
    await station.stop();
    const verdicts = await all;
    assert.deepEqual(verdicts.map((v) => [v.partId, v.verdict]), [['a-good', 'ok'], ['b-huge', 'error'], ['c-defect', 'reject']]);
    const huge = verdicts[1]!;
    assert.ok(huge.reasons.some((r) => r.code === 'LW_ERR_FRAME_TOO_LARGE' && /12000×12000 = 144000000 pixels, more than this camera's maxFramePixels 50000000/.test(r.message)), JSON.stringify(huge.reasons));
    assert.ok(huge.timings.totalMs < 1_000, `refused in ${huge.timings.totalMs} ms, not decoded`);
    assert.ok(identityHolds(station.counters()));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('raw frames over the limit are refused from their stated size before being copied to a worker', async () => {
  const config = parseConfig(
    { model: { bundle: TINY, intraOpThreads: 1 }, cameras: [{ id: 'cam1', source: { type: 'synthetic', width: 256, height: 256, count: 3 }, maxFramePixels: 256 * 255 }] },
    'raw limit',
  );
  const station = await Station.start(config, { logger: quiet });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  const verdicts = await all;
  assert.equal(verdicts.length, 3);
  for (const v of verdicts) assert.ok(v.verdict === 'error' && v.reasons.some((r) => r.code === 'LW_ERR_FRAME_TOO_LARGE'), JSON.stringify(v.reasons));
});
