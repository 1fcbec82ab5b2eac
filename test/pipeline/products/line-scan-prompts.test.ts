/**
 * Prompts for line-scan cameras on the tiny OneNIP (real sessions, a GStreamer strip source): the
 * product's good image is a strip as wide as the web, and each tile is judged against the good tile
 * at its own place across — tile i against good tile i.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { firstValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { parseConfig } from '../../../src/config/load.js';
import { LinewatchError } from '../../../src/errors.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { fixture } from '../../models/helpers.js';

const ONENIP = fixture('tiny-onenip');
const sample = (name: string): string => join(ONENIP, 'samples', `${name}.png`);
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const S = 64;
const WIDTH = 2 * S;
const ROWS = 4;

/** Raw RGB of `left` and `right` side by side (2S × S). */
async function pair(left: string, right: string): Promise<Buffer> {
  const raw = async (n: string) => (await sharp(sample(n)).removeAlpha().raw().toBuffer({ resolveWithObject: true })).data;
  const [l, r] = [await raw(left), await raw(right)];
  const out = Buffer.alloc(WIDTH * S * 3);
  for (let y = 0; y < S; y++) {
    l.copy(out, y * WIDTH * 3, y * S * 3, (y + 1) * S * 3);
    r.copy(out, y * WIDTH * 3 + S * 3, y * S * 3, (y + 1) * S * 3);
  }
  return out;
}

function config(web: string, products: Record<string, { prompt: string } | { pool: string[] }>) {
  return parseConfig(
    {
      model: { bundle: ONENIP, intraOpThreads: 1 },
      products,
      cameras: [
        {
          id: 'web1',
          product: 'ab',
          source: {
            type: 'gstreamer',
            format: 'RGB',
            input: { preset: 'launch', live: false, pipeline: `filesrc location=${web} blocksize=${WIDTH * S * 3} ! rawvideoparse width=${WIDTH} height=${S} format=rgb framerate=100/1 ! appsink name=sink` },
          },
          lineScan: { bufferLines: S, overlapAcrossPx: 0, overlapAlongLines: 0, mmPerPixel: 1, resolution: { kind: 'fixed', mmPerLine: 1 }, segmentLengthMm: S, minDefectAreaPx: 4 },
        },
      ],
      inference: { preprocessWorkers: 0 },
    },
    'line-scan prompts test',
  );
}

async function run(web: string, products: Record<string, { prompt: string }>): Promise<Verdict[]> {
  const station = await Station.start(config(web, products), { logger: quiet });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  const c = station.counters();
  assert.ok(identityHolds(c) && c.inFlight === 0, JSON.stringify(c));
  return all;
}

test('line-scan with a prompted model: each tile is judged against the good tile at its place across; the good strip the other way round rejects the web; a strip of another width is an error naming it; a pool is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-prompts-'));
  try {
    // The web: parts of a on the left, parts of b on the right, ROWS tiles long.
    const row = await pair('good-a', 'good-b');
    const web = join(dir, 'web.rgb');
    writeFileSync(web, Buffer.concat(Array.from({ length: ROWS }, () => row)));
    const strip = async (name: string, l: string, r: string) => {
      const file = join(dir, name);
      await sharp(await pair(l, r), { raw: { width: WIDTH, height: S, channels: 3 } }).png().toFile(file);
      return file;
    };
    const same = await run(web, { ab: { prompt: await strip('good-ab.png', 'prompt-a', 'prompt-b') } });
    assert.equal(same.length, ROWS, 'one verdict per segment');
    assert.ok(same.every((v) => v.verdict === 'ok' && v.product === 'ab'), JSON.stringify(same.map((v) => [v.verdict, v.product, v.reasons])));
    // The same web against a good strip with b on the left and a on the right: every tile is
    // judged against the other product's good tile, and rejected.
    const swapped = await run(web, { ab: { prompt: await strip('good-ba.png', 'prompt-b', 'prompt-a') } });
    assert.ok(swapped.every((v) => v.verdict === 'reject' && v.defects.length > 0), JSON.stringify(swapped.map((v) => [v.verdict, v.score, v.defects.length])));
    // A good image of the wrong width: each band is an error verdict naming the product and the sizes
    // (a band that cannot be judged, as line-scan reports any: its own verdict, judged by failSafe).
    const narrow = sample('prompt-a');
    const all = await run(web, { ab: { prompt: narrow } });
    const bandErrors = all.filter((v) => v.verdict === 'error' && v.meta?.['band'] !== undefined);
    assert.equal(bandErrors.length, ROWS, 'one error verdict per band');
    // The segments over those bands were judged by no model: never `ok` (web nobody saw passing).
    const segments = all.filter((v) => v.meta?.['segment'] !== undefined);
    assert.equal(segments.length, ROWS, 'one verdict per segment still');
    assert.ok(segments.every((v) => v.verdict === 'error' && v.meta?.['unjudged'] === true && /could not be judged/.test(v.reasons[0]!.message)),
      JSON.stringify(segments.map((v) => [v.verdict, v.reasons])));
    const wrong = bandErrors;
    assert.match(wrong[0]!.reasons[0]!.message, new RegExp(`products\\.ab\\.prompt ${narrow}: a line-scan camera's good image must be as wide as its strip \\(128 px\\).*it is 64x64`));
    await assert.rejects(Station.start(config(web, { ab: { pool: [narrow, narrow] } }), { logger: quiet, deferCameras: true }), (err: unknown) => {
      assert.ok(err instanceof LinewatchError && err.code === 'LW_ERR_MODEL_NEEDS_UNMET', String(err));
      assert.match(err.message, /camera web1 cannot give one: it is a line-scan camera and its product ab names a pool/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
