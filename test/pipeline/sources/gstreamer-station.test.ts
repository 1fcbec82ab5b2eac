import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../../../src/config/load.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';

/** GStreamer sources (videotestsrc, multifilesrc) into the whole runtime with the trainer's tiny model. */

const TINY = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function run(source: unknown): Promise<{ verdicts: Verdict[]; station: Station }> {
  const config = parseConfig(
    { model: { bundle: TINY, intraOpThreads: 1 }, cameras: [{ id: 'cam1', source }] },
    'test config',
  );
  const station = await Station.start(config, { logger: quiet });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  return { verdicts: await all, station };
}

test('multifilesrc over numbered samples → the tiny model: good parts ok, defects rejected, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-gst-station-'));
  try {
    const order = ['good-0', 'defect-0', 'good-1', 'defect-1'];
    order.forEach((name, i) => copyFileSync(join(TINY, 'samples', `${name}.png`), join(dir, `part_${i}.png`)));
    const { verdicts, station } = await run({
      type: 'gstreamer',
      format: 'RGB',
      input: { preset: 'images', location: join(dir, 'part_%d.png') },
    });
    assert.deepEqual(
      verdicts.map((v) => [v.seq, v.verdict]),
      [
        [0, 'ok'],
        [1, 'reject'],
        [2, 'ok'],
        [3, 'reject'],
      ],
    );
    assert.ok(identityHolds(station.counters()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('videotestsrc (GRAY8 converted in GStreamer) → the tiny model: one scored verdict per frame, counters hold', async () => {
  const { verdicts, station } = await run({
    type: 'gstreamer',
    format: 'GRAY8',
    input: { preset: 'test', pattern: 'ball', width: 96, height: 80, numBuffers: 6, live: false },
  });
  assert.equal(verdicts.length, 6);
  assert.deepEqual(verdicts.map((v) => v.seq), [0, 1, 2, 3, 4, 5]);
  for (const v of verdicts) {
    assert.ok(v.verdict === 'ok' || v.verdict === 'reject', `${v.seq}: ${v.verdict} ${JSON.stringify(v.reasons)}`);
    assert.equal(typeof v.score, 'number');
  }
  const c = station.counters();
  assert.ok(identityHolds(c));
  assert.equal(c.received, 6);
});
