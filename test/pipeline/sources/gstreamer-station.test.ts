import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../../../src/config/load.js';
import type { ConfigInput } from '../../../src/config/schema.js';
import { configSchema } from '../../../src/config/schema.js';
import { statusPayload } from '../../../src/io/mqtt/messages.js';
import { startMqtt } from '../../../src/io/mqtt/start.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { REASON, ejects } from '../../../src/pipeline/decide.js';
import { Station, type StationDeps } from '../../../src/pipeline/station.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { conforms, docSchemas } from '../../io/mqtt/helpers/doc-schemas.js';
import { startMosquitto } from '../../io/mqtt/helpers/mosquitto.js';
import { observe } from '../../io/mqtt/helpers/observer.js';
import { quietLogger } from '../../io/mqtt/helpers/subject-station.js';

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

// ── Frames the camera source lost (appsink overflow, restarts) become `dropped` verdicts ──

/** A live camera at 1000 frames/s, 64 × 64, that the appsink holds one frame of. */
function fastCamera(numBuffers: number): unknown {
  return {
    type: 'gstreamer',
    format: 'RGB',
    maxBuffers: 1,
    input: { preset: 'test', pattern: 'ball', width: 64, height: 64, fps: 1000, numBuffers, live: true },
  };
}

/**
 * Blocks the main thread 2 ms for each verdict of a delivered frame: linewatch then takes at most
 * ~500 frames/s out of the appsink, so a 1000 frames/s camera overflows it on any machine (the
 * model, batch 1 behind a queue of 2, is slower than the camera as well).
 */
function slowConsumer(v: Verdict): void {
  if (v.reasons[0]?.code === REASON.LOST) return;
  const until = performance.now() + 2;
  while (performance.now() < until);
}

async function runStation(over: Partial<ConfigInput>, deps: StationDeps = {}, beforeBegin?: (s: Station) => void): Promise<{ verdicts: Verdict[]; station: Station }> {
  const config = parseConfig(
    { model: { bundle: TINY, intraOpThreads: 1 }, inference: { batchSize: 1, maxQueuedFrames: 2 }, ...over },
    'test config',
  );
  const station = await Station.start(config, { logger: quiet, deferCameras: true, ...deps });
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  station.verdicts$.subscribe(slowConsumer);
  beforeBegin?.(station);
  station.begin();
  await station.ended();
  await station.stop();
  return { verdicts: await all, station };
}

const lostOf = (vs: readonly Verdict[]): Verdict[] => vs.filter((v) => v.reasons[0]?.code === REASON.LOST);

test('a live camera faster than the model: every frame the appsink drops is one FRAME_LOST verdict with its own seq, judged by failSafe, as many as `lost`, and the identity holds', async () => {
  const { verdicts, station } = await runStation({ cameras: [{ id: 'cam1', source: fastCamera(400) as never }] });
  const c = station.counters();
  const lost = lostOf(verdicts);
  assert.ok(lost.length > 0, `the appsink dropped frames: ${JSON.stringify(c)}`);
  assert.equal(lost.length, c.lost, 'one verdict per lost frame, no more, no fewer');
  // A finite stream settles exactly: every buffer the camera made is one verdict, seqs 0..399 each once.
  assert.deepEqual(
    verdicts.map((v) => v.seq).sort((a, b) => a - b),
    [...Array(400).keys()],
    'seq numbers every frame the camera took, delivered or lost: gap-free over the verdicts',
  );
  for (const v of lost) {
    assert.equal(v.verdict, 'dropped');
    assert.equal(v.cameraId, 'cam1');
    assert.equal(v.score, null);
    assert.equal(v.reasons[1]?.code, REASON.FAILSAFE_REJECT);
    assert.ok(ejects(v), 'failSafe reject: the line is told to eject it');
    assert.match(v.reasons[0]!.message, new RegExp(`camera cam1: frame ${v.seq} lost, dropped by the appsink`));
    assert.equal(v.meta?.['lost'], 'appsink-overflow');
  }
  // A delivered frame's seq is videotestsrc's own frame number: a gap there is exactly the lost frames.
  for (const v of verdicts.filter((x) => lostOf([x]).length === 0)) assert.equal(v.meta?.['sourceOffset'], v.seq);
  assert.ok(identityHolds(c), JSON.stringify(c));
  assert.equal(c.received, verdicts.length);
  assert.equal(c.dropped, verdicts.filter((v) => v.verdict === 'dropped').length, 'FRAME_LOST and FRAME_DROPPED both count as dropped');
  assert.equal(c.inFlight, 0);
  assert.deepEqual(station.health().cameras[0]?.losses, { dropped: 'per-frame', upstream: 'offsets' });
});

test('failSafe pass: lost frames are still dropped verdicts, let through (not ejected)', async () => {
  const { verdicts, station } = await runStation({
    cameras: [{ id: 'cam1', source: fastCamera(200) as never }],
    decide: { failSafe: 'pass' },
  });
  const lost = lostOf(verdicts);
  assert.ok(lost.length > 0);
  assert.equal(lost.length, station.counters().lost);
  for (const v of lost) {
    assert.equal(v.reasons[1]?.code, REASON.FAILSAFE_PASS);
    assert.equal(ejects(v), false);
  }
  assert.ok(identityHolds(station.counters()));
});

test('a live camera restarted after stream errors: losses of every run (dropped, or discarded by the restart) are judged, as many as `lost`', async () => {
  const source = {
    type: 'gstreamer',
    format: 'RGB',
    maxBuffers: 2,
    restart: { initialDelayMs: 20, maxDelayMs: 50, jitter: 0 },
    input: {
      preset: 'launch',
      live: true,
      pipeline:
        'videotestsrc is-live=true pattern=ball ! video/x-raw,width=64,height=64,framerate=1000/1 ! identity error-after=120 ! videoconvert ! appsink name=sink',
    },
  };
  // 150 delivered frames take at least two runs (each run delivers fewer than its 120 buffers).
  const { verdicts, station } = await runStation({ cameras: [{ id: 'cam1', source: source as never }] }, { maxFramesPerCamera: 150 });
  const c = station.counters();
  const lost = lostOf(verdicts);
  const delivered = verdicts.filter((v) => lostOf([v]).length === 0);
  assert.equal(delivered.length, 150);
  const seqs = verdicts.map((v) => v.seq).sort((a, b) => a - b);
  assert.deepEqual(seqs, [...Array(seqs.length).keys()], 'seq goes on across restarts, delivered and lost frames each one');
  assert.ok(lost.length > 0, JSON.stringify(c));
  assert.equal(lost.length, c.lost);
  for (const v of lost) assert.ok(['appsink-overflow', 'restart'].includes(String(v.meta?.['lost'])), String(v.meta?.['lost']));
  // What a restart settles beyond the running estimate (queued, or dropped since the last count) is
  // `restart`. Whether any is left to settle depends on timing (a consumer that drained the queue
  // after the last estimate leaves nothing), so only its wording is checked when there is one.
  const settled = lost.find((v) => v.meta?.['lost'] === 'restart');
  if (settled !== undefined) assert.match(settled.reasons[0]!.message, /restarted/);
  assert.ok(identityHolds(c), JSON.stringify(c));
  assert.equal(c.received, verdicts.length);
});

test('a triggered camera: a lost frame takes its trigger like a frame and is judged once, FRAME_LOST with its seq and partId; no trigger is orphaned', async () => {
  const parts = 300;
  const at = Date.now();
  const { verdicts, station } = await runStation(
    { cameras: [{ id: 'cam1', source: fastCamera(parts) as never, triggers: { timeoutMs: 10_000 } }] },
    {},
    // The PLC announced every part the camera takes; frames pair with them in order.
    (s) => {
      for (let i = 0; i < parts; i++) s.pushTrigger({ partId: `P-${i}`, at });
    },
  );
  const c = station.counters();
  const lost = lostOf(verdicts);
  assert.ok(c.lost > 0, JSON.stringify(c));
  assert.equal(lost.length, c.lost, 'one FRAME_LOST verdict per lost frame');
  assert.equal(verdicts.filter((v) => v.reasons[0]?.code === REASON.NO_FRAME).length, 0, 'no trigger left without a frame');
  assert.equal(c.orphanTriggers, 0);
  assert.equal(c.triggersMatched, parts);
  assert.equal(c.received, parts, 'one verdict per announced part');
  // Frames and lost frames took the triggers in order: the part with seq n is P-n.
  for (const v of verdicts) assert.equal(v.partId, `P-${v.seq}`);
  for (const v of lost) assert.ok(ejects(v));
  assert.ok(identityHolds(c), JSON.stringify(c));
});

test('FRAME_LOST verdicts go to the line: on …/reject (failSafe reject) and …/result, every payload valid against docs/mqtt.md', async () => {
  const broker = await startMosquitto();
  const stateDir = mkdtempSync(join(tmpdir(), 'lw-lost-mqtt-'));
  const root = 'linewatch/lost/l1/st1';
  try {
    const config = parseConfig(
      {
        model: { bundle: TINY, intraOpThreads: 1 },
        inference: { batchSize: 1, maxQueuedFrames: 2 },
        cameras: [{ id: 'cam1', source: fastCamera(200) }],
        mqtt: { url: broker.url, site: 'lost', line: 'l1', station: 'st1', result: { qos: 1 }, remoteConfig: { requireSignature: false, stateDir } },
      },
      'mqtt config',
    );
    const obs = await observe(broker.url, [`${root}/reject`, `${root}/result`]);
    const station = await Station.start(config, { logger: quiet, deferCameras: true });
    const verdicts: Verdict[] = [];
    station.verdicts$.subscribe((v) => verdicts.push(v));
    station.verdicts$.subscribe(slowConsumer);
    const mqtt = await startMqtt(station.activeConfig(), station, quietLogger);
    try {
      await mqtt.link.whenOnline(5_000);
      station.begin();
      await station.ended();
      const lost = lostOf(verdicts);
      assert.ok(lost.length > 0);
      const isLost = (m: Record<string, unknown>): boolean => (m['reasons'] as { code: string }[])[0]?.code === REASON.LOST;
      await obs.until(() => obs.json(`${root}/result`).filter(isLost).length === lost.length, 'every FRAME_LOST result', 10_000);
      await obs.until(() => obs.json(`${root}/reject`).filter(isLost).length === lost.length, 'every FRAME_LOST reject', 10_000);
      const schemas = docSchemas();
      // …/status says what the camera's source can tell about lost frames.
      const status = JSON.parse(statusPayload(mqtt.status.report('online'))) as { cameras: unknown[] };
      conforms(status, schemas.get('linewatch.status/1')!);
      assert.deepEqual(status.cameras, [{ id: 'cam1', state: 'ended', losses: { dropped: 'per-frame', upstream: 'offsets' }, product: null }]);
      for (const m of obs.json(`${root}/reject`)) conforms(m, schemas.get('linewatch.reject/1')!);
      for (const m of obs.json(`${root}/result`)) conforms(m, schemas.get('linewatch.result/1')!);
      const lostSeqs = new Set(lost.map((v) => v.seq));
      for (const m of obs.json(`${root}/reject`).filter(isLost)) {
        assert.ok(lostSeqs.has(m['seq'] as number), `seq ${String(m['seq'])} is a lost frame's own`);
        assert.equal(m['partId'], null);
        assert.equal(m['score'], null);
      }
    } finally {
      await station.stop();
      await mqtt.close();
      await obs.close();
    }
  } finally {
    await broker.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
