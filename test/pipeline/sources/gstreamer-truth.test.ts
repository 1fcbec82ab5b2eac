import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstValueFrom, toArray } from 'rxjs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../../src/config/load.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { REASON } from '../../../src/pipeline/decide.js';
import type { Frame } from '../../../src/pipeline/frame.js';
import { createGstreamerSource, gstreamerSourceSchema } from '../../../src/pipeline/sources/gstreamer/index.js';
import { Station } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';

/**
 * Camera truth through real GStreamer: capture time from the buffers' timestamps (not their
 * arrival in Node), and frames lost before the appsink identified by the source's own numbering.
 */

const TINY = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** Frames of a live launch line with each frame's arrival in Node (hrtime, ns), until `n` came. */
async function arrivals(pipeline: string, n: number): Promise<{ frame: Frame; arrivedNs: bigint }[]> {
  const src = createGstreamerSource(gstreamerSourceSchema.parse({ type: 'gstreamer', format: 'GRAY8', input: { preset: 'launch', live: true, pipeline } }), 'cam1');
  const out: { frame: Frame; arrivedNs: bigint }[] = [];
  await new Promise<void>((resolve, reject) => {
    const sub = src.frames().subscribe({
      next: (frame) => {
        out.push({ frame, arrivedNs: process.hrtime.bigint() });
        if (out.length === n) {
          setImmediate(() => sub.unsubscribe());
          resolve();
        }
      },
      error: reject,
    });
  });
  return out;
}

const HEAD = 'videotestsrc is-live=true do-timestamp=true ! video/x-raw,width=32,height=24,framerate=50/1';

test('capture time is when the source took the frame: a queue holding frames 300 ms puts capturedAt 300 ms before their arrival', async () => {
  const held = await arrivals(`${HEAD} ! queue min-threshold-time=300000000 max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! videoconvert ! appsink name=sink`, 20);
  const direct = await arrivals(`${HEAD} ! videoconvert ! appsink name=sink`, 20);
  const lag = (xs: typeof held): number[] => xs.slice(5).map((x) => Number(x.arrivedNs - x.frame.capturedAt.monoNs) / 1e6);
  const heldMs = lag(held);
  const directMs = lag(direct);
  // The queue lets a frame go once the frames behind it span 300 ms of timestamps: it held each one
  // 300 ms less up to one frame period (20 ms).
  for (const ms of heldMs) assert.ok(ms >= 275 && ms < 1_000, `held ${ms.toFixed(1)} ms (${heldMs.map((x) => x.toFixed(0)).join(' ')})`);
  // Without the queue: below the least lag a held frame can have (275 ms), with room for a loaded machine's delivery delay.
  for (const ms of directMs) assert.ok(ms >= 0 && ms < 275, `direct ${ms.toFixed(1)} ms`);
  // Consecutive capture times are the source's frame period (20 ms at 50 frames/s), whatever the delivery jitter.
  for (let i = 6; i < held.length; i++) {
    const d = Number(held[i]!.frame.capturedAt.monoNs - held[i - 1]!.frame.capturedAt.monoNs) / 1e6;
    assert.ok(Math.abs(d - 20) < 5, `capture interval ${d.toFixed(2)} ms`);
  }
  // The wall clock says the same: within a few ms of the monotonic mapping.
  const f = held.at(-1)!;
  const wallLagMs = Date.now() - f.frame.capturedAt.wallMs;
  assert.ok(wallLagMs >= 275 && wallLagMs < 2_000, `wall ${wallLagMs} ms`);
});

test('a pipeline element that drops frames: one `dropped` verdict per frame lost before the appsink, with its seq and the source frame number, the identity holds', async () => {
  const config = parseConfig(
    {
      model: { bundle: TINY, intraOpThreads: 1 },
      inference: { batchSize: 4 },
      cameras: [
        {
          id: 'cam1',
          source: {
            type: 'gstreamer',
            format: 'GRAY8',
            input: {
              preset: 'launch',
              live: false,
              pipeline: 'videotestsrc num-buffers=120 pattern=ball ! video/x-raw,width=64,height=48 ! identity drop-probability=0.25 ! videoconvert ! appsink name=sink',
            },
          },
        },
      ],
    },
    'test config',
  );
  const station = await Station.start(config, { logger: quiet, deferCameras: true });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  station.begin();
  await station.ended();
  await station.stop();
  const verdicts: Verdict[] = await all;
  const lost = verdicts.filter((v) => v.reasons[0]?.code === REASON.LOST);
  const seen = verdicts.filter((v) => v.reasons[0]?.code !== REASON.LOST);
  const c = station.counters();
  assert.ok(lost.length > 5, `identity dropped about a quarter: ${lost.length} lost of ${verdicts.length}`);
  assert.equal(lost.length, c.lost);
  assert.ok(identityHolds(c), JSON.stringify(c));
  assert.equal(c.received, verdicts.length);
  for (const v of lost) {
    assert.equal(v.verdict, 'dropped');
    assert.equal(v.meta?.['lost'], 'upstream');
    assert.match(v.reasons[0]!.message, new RegExp(`frame ${v.seq} lost, lost before it reached linewatch`));
  }
  // Each verdict is one frame of the source, in its own numbering: delivered and lost together
  // cover every frame from the first delivered to the last, once, and seq follows that numbering
  // (frames dropped before the first or after the last delivered one cannot be told).
  const offsetOf = (v: Verdict): number => v.meta?.['sourceOffset'] as number;
  const first = Math.min(...seen.map(offsetOf));
  const last = Math.max(...seen.map(offsetOf));
  assert.deepEqual(
    verdicts.map(offsetOf).sort((a, b) => a - b),
    Array.from({ length: last - first + 1 }, (_, i) => first + i),
  );
  for (const v of verdicts) assert.equal(v.seq, offsetOf(v) - first, `offset ${offsetOf(v)}`);
  assert.deepEqual(station.health().cameras[0]?.losses, { dropped: 'per-frame', upstream: 'offsets' });
});
