import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, filter, toArray } from 'rxjs';
import sharp from 'sharp';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { identityHolds } from '../../src/pipeline/counters.js';
import { REASON, ejects } from '../../src/pipeline/decide.js';
import { Station } from '../../src/pipeline/station.js';
import type { Verdict } from '../../src/pipeline/verdict.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/models/', import.meta.url));
const TINY = join(fixtures, 'tiny-inp');
const TINY_RAW = join(fixtures, 'tiny-inp-raw');
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

let dir: string;

/** A folder of PNGs written by sharp from the fixture's samples, with a corrupt file in the middle. */
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lw-station-'));
  const samples = join(TINY, 'samples');
  for (const [from, to] of [
    ['good-0', 'a-good-0'],
    ['defect-0', 'b-defect-0'],
    ['good-1', 'd-good-1'],
    ['defect-1', 'e-defect-1'],
  ] as const) {
    const { data, info } = await sharp(await readFile(join(samples, `${from}.png`))).raw().toBuffer({ resolveWithObject: true });
    await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toFile(join(dir, `${to}.png`));
  }
  await writeFile(join(dir, 'c-corrupt.png'), Buffer.from('\x89PNG\r\n\x1a\n this is not really a png'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(over: Partial<ConfigInput> = {}) {
  return parseConfig(
    {
      model: { bundle: TINY, intraOpThreads: 1 },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: dir } }],
      ...over,
    },
    'test config',
  );
}

async function runToEnd(station: Station): Promise<Verdict[]> {
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  await station.ended();
  await station.stop();
  return all;
}

test('folder of PNGs through the tiny bundle: good ok, defects rejected, a corrupt file is an error and the stream goes on', async () => {
  const station = await Station.start(config(), { logger: quiet });
  const verdicts = await runToEnd(station);
  const byPart = new Map(verdicts.map((v) => [v.partId, v]));
  assert.deepEqual(verdicts.map((v) => v.partId), ['a-good-0', 'b-defect-0', 'c-corrupt', 'd-good-1', 'e-defect-1'], 'one verdict per file, in order');
  assert.equal(byPart.get('a-good-0')?.verdict, 'ok');
  assert.equal(byPart.get('d-good-1')?.verdict, 'ok');
  for (const id of ['b-defect-0', 'e-defect-1']) {
    const v = byPart.get(id)!;
    assert.equal(v.verdict, 'reject', id);
    assert.ok(v.normScore! >= 0.5);
    assert.equal(v.reasons[0]?.code, REASON.SCORE);
    assert.ok(v.defects.length > 0, `${id} has a defect region`);
    for (const d of v.defects) assert.ok(d.x >= 0 && d.y >= 0 && d.x + d.w <= 64 && d.y + d.h <= 64, 'defects in camera pixels of the 64×64 image');
  }
  // Through the whole production path (PNG → decode → PIL-exact resize/crop → worker → post), the
  // image scores are PyTorch's reference scores from the trainer's golden file.
  const golden = JSON.parse(await readFile(join(TINY, 'golden.json'), 'utf8')) as {
    tolerance: number;
    cases: { name: string; reference: { score: { base64: string } } }[];
  };
  for (const [name, part] of [['good', 'a-good-0'], ['defect', 'b-defect-0']] as const) {
    const ref = Buffer.from(golden.cases.find((c) => c.name === name)!.reference.score.base64, 'base64').readFloatLE(0);
    const got = byPart.get(part)!.score!;
    assert.ok(Math.abs(got - ref) <= golden.tolerance, `${part}: score ${got} vs PyTorch ${ref}`);
  }
  const bad = byPart.get('c-corrupt')!;
  assert.equal(bad.verdict, 'error');
  assert.equal(bad.reasons[0]?.code, 'LW_ERR_FRAME_DECODE');
  assert.match(bad.reasons[0]!.message, /c-corrupt\.png/);
  assert.equal(bad.reasons[1]?.code, REASON.FAILSAFE_REJECT);
  assert.equal(ejects(bad), true, 'failSafe reject (default) ejects the unreadable part');
  const c = station.counters();
  const { cameras, ...all } = c;
  assert.deepEqual(all, { received: 5, ok: 2, reject: 2, error: 1, dropped: 0, inFlight: 0, lost: 0, late: 0 });
  assert.deepEqual(cameras, { cam1: all }, 'one camera: its own counts are the station\'s');
  assert.ok(identityHolds(c));
  assert.equal(station.health().lifecycle, 'stopped');
});

test('folder preload: the same verdicts and scores as decoding each file, raw frames, and the corrupt file is still an error', async () => {
  const plain = await runToEnd(await Station.start(config(), { logger: quiet }));
  const preloaded = await Station.start(config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, preload: true } }] }), { logger: quiet });
  const replay = await runToEnd(preloaded);
  assert.deepEqual(replay.map((v) => [v.partId, v.verdict]), plain.map((v) => [v.partId, v.verdict]));
  for (let i = 0; i < plain.length; i++) assert.equal(replay[i]!.score, plain[i]!.score, `${plain[i]!.partId}: bit-identical score`);
  const bad = replay.find((v) => v.partId === 'c-corrupt')!;
  assert.equal(bad.reasons[0]?.code, 'LW_ERR_FRAME_DECODE');
  assert.match(bad.reasons[0]!.message, /c-corrupt\.png/);
  assert.ok(identityHolds(preloaded.counters()));
});

test('triggers on but none comes: each frame is judged as without triggers and says FRAME_WITHOUT_TRIGGER', async () => {
  const plain = await runToEnd(await Station.start(config(), { logger: quiet }));
  const waiting = await Station.start(config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir }, triggers: { timeoutMs: 50 } }] }), { logger: quiet });
  const untriggered = await runToEnd(waiting);
  assert.deepEqual(untriggered.map((v) => [v.partId, v.verdict, v.score]), plain.map((v) => [v.partId, v.verdict, v.score]), 'judged the same');
  for (let i = 0; i < plain.length; i++) {
    const codes = untriggered[i]!.reasons.map((r) => r.code);
    assert.deepEqual(codes, [...plain[i]!.reasons.map((r) => r.code), 'FRAME_WITHOUT_TRIGGER'], `${plain[i]!.partId}: the deciding reasons first`);
  }
  assert.match(untriggered[0]!.reasons.at(-1)!.message, /frame 0 of cam1: no PLC trigger claimed it/);
  const c = waiting.counters();
  assert.equal(c.framesWithoutTrigger, plain.length);
  assert.ok(identityHolds(c));
});

test('hot, warm and refused changes while running', async () => {
  const station = await Station.start(config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 100 } }] }), {
    logger: quiet,
  });
  try {
    const before = station.health().model.sha256;
    // Hot: failSafe pass; the next corrupt frame is let through.
    const hot = await station.applyConfig(config({
      version: '2',
      cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 100 } }],
      decide: { failSafe: 'pass' },
    }));
    assert.equal(hot.ok, true);
    assert.equal(hot.level, 'hot');
    const err = await firstValueFrom(station.verdicts$.pipe(filter((v) => v.verdict === 'error' && v.configVersion === '2')));
    assert.equal(err.reasons[1]?.code, REASON.FAILSAFE_PASS);
    assert.equal(ejects(err), false);
    // Warm: another bundle, built beside the running one and swapped.
    const warm = await station.applyConfig(config({
      version: '3',
      model: { bundle: TINY_RAW, intraOpThreads: 1 },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 100 } }],
    }));
    assert.equal(warm.ok, true, warm.reasons.join());
    assert.equal(warm.level, 'warm');
    assert.notEqual(station.health().model.sha256, before);
    const judged = await firstValueFrom(station.verdicts$.pipe(filter((v) => v.configVersion === '3' && v.partId === 'b-defect-0')));
    assert.equal(judged.verdict, 'reject', 'the raw-map bundle (runtime post-processing) judges the defect too');
    // Refused: a missing bundle leaves the running model in place.
    const refused = await station.applyConfig(config({
      version: '4',
      model: { bundle: join(dir, 'no-such-bundle') },
      cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 100 } }],
    }));
    assert.equal(refused.ok, false);
    assert.match(refused.reasons.join(), /no-such-bundle/);
    assert.equal(station.health().model.sha256, warm.ok ? station.health().model.sha256 : before);
    const still = await firstValueFrom(station.verdicts$.pipe(filter((v) => v.verdict === 'ok')));
    assert.equal(still.configVersion, '3', 'still judging under the last good configuration');
  } finally {
    await station.stop();
  }
  assert.ok(identityHolds(station.counters()));
});

test('overload: a fast camera into the model keeps the queue bounded, drops are counted and judged by failSafe', async () => {
  const station = await Station.start(
    config({
      cameras: [{ id: 'fast', source: { type: 'synthetic', width: 64, height: 64, fps: 20000, count: 600 } }],
      inference: { batchSize: 2, maxQueuedFrames: 4 },
    }),
    { logger: quiet },
  );
  const verdicts = await runToEnd(station);
  const c = station.counters();
  assert.equal(verdicts.length, 600, 'every frame ends as exactly one verdict');
  assert.equal(c.received, 600);
  assert.ok(c.dropped > 0, `frames were dropped (${c.dropped})`);
  assert.equal(c.dropped, verdicts.filter((v) => v.verdict === 'dropped').length);
  assert.ok(identityHolds(c));
  for (const v of verdicts) {
    if (v.verdict !== 'dropped') continue;
    assert.equal(v.reasons[0]?.code, REASON.DROPPED);
    assert.equal(v.reasons[1]?.code, REASON.FAILSAFE_REJECT);
    assert.equal(v.score, null);
  }
});

test('a source that can wait (synthetic at fps 0) is inspected losslessly', async () => {
  const station = await Station.start(
    config({
      cameras: [{ id: 'pull', source: { type: 'synthetic', width: 64, height: 64, count: 200 } }],
      inference: { batchSize: 2, maxQueuedFrames: 2 },
    }),
    { logger: quiet },
  );
  const verdicts = await runToEnd(station);
  assert.equal(verdicts.length, 200);
  assert.equal(station.counters().dropped, 0);
  assert.equal(verdicts.filter((v) => v.verdict === 'ok' || v.verdict === 'reject').length, 200);
});

test('cold: a camera change restarts the pipelines; the new source runs to its end', async () => {
  const station = await Station.start(config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 200 } }] }), {
    logger: quiet,
  });
  const cam2 = firstValueFrom(station.verdicts$.pipe(filter((v) => v.cameraId === 'cam2'), toArray()));
  await firstValueFrom(station.verdicts$);
  const r = await station.applyConfig(config({ cameras: [{ id: 'cam2', source: { type: 'synthetic', width: 64, height: 64, count: 20 } }] }));
  assert.equal(r.ok, true);
  assert.equal(r.level, 'cold');
  await station.ended();
  assert.deepEqual(station.health().cameras.map((c) => c.id), ['cam2']);
  const c = station.counters();
  assert.equal(c.inFlight, 0, 'the old camera finished its frames before the new one started');
  assert.ok(identityHolds(c));
  await station.stop();
  const seqs = (await cam2).map((v) => v.seq);
  assert.deepEqual(seqs, [...Array(20).keys()]);
});

test('a refused camera (a pipeline GStreamer cannot parse) leaves the running cameras as they were', async () => {
  const station = await Station.start(config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir, loop: true, fps: 100 } }] }), {
    logger: quiet,
  });
  try {
    const r = await station.applyConfig(
      config({
        version: '9',
        cameras: [{ id: 'gige', source: { type: 'gstreamer', input: { preset: 'launch', pipeline: 'nosuchelement-xyz ! appsink name=sink' } } }],
      }),
    );
    assert.equal(r.ok, false);
    assert.match(r.reasons.join(), /cameras: /);
    assert.deepEqual(station.health().cameras.map((c) => c.id), ['cam1']);
    const v = await firstValueFrom(station.verdicts$);
    assert.equal(v.cameraId, 'cam1');
    assert.equal(v.configVersion, '1', 'the refused configuration never became active');
  } finally {
    await station.stop();
  }
});

test('deferred cameras: a consumer that subscribes after start but before begin() sees every verdict, the first included', async () => {
  const station = await Station.start(config(), { logger: quiet, deferCameras: true });
  // The model is loaded and warm; nothing is inspected yet, however long consumers take to attach.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(station.counters().received, 0, 'no frame before begin()');
  const late = firstValueFrom(station.verdicts$.pipe(toArray()));
  station.begin();
  station.begin(); // once only
  await station.ended();
  await station.stop();
  const verdicts = await late;
  assert.deepEqual(
    verdicts.map((v) => v.seq),
    [0, 1, 2, 3, 4],
    'all five files, from the first',
  );
  assert.ok(identityHolds(station.counters()));
});

test('a PLC trigger whose frame never comes is a dropped part, judged by failSafe (default reject), and counted', async () => {
  const station = await Station.start(
    config({ cameras: [{ id: 'cam1', source: { type: 'folder', path: dir }, triggers: { timeoutMs: 2_000 } }] }),
    { logger: quiet, deferCameras: true },
  );
  const all = firstValueFrom(station.verdicts$.pipe(toArray()));
  // Six parts announced, five frames in the folder: the sixth part passes the camera uninspected.
  const at = Date.now();
  for (let i = 1; i <= 6; i++) station.pushTrigger({ partId: `T-${i}`, encoderPos: 100 * i, at });
  station.begin();
  await station.ended();
  await station.stop();
  const verdicts = await all;
  assert.deepEqual(
    verdicts.filter((v) => v.seq >= 0).map((v) => v.partId),
    ['T-1', 'T-2', 'T-3', 'T-4', 'T-5'],
  );
  const orphan = verdicts.find((v) => v.partId === 'T-6');
  assert.equal(orphan?.verdict, 'dropped');
  assert.equal(orphan?.seq, -1, 'no frame of it exists');
  assert.equal(orphan?.meta?.['encoderPos'], 600);
  assert.ok(orphan !== undefined && ejects(orphan), 'the line is told to eject it');
  const c = station.counters();
  assert.equal(c.dropped, 1);
  assert.equal(c.received, 6);
  assert.ok(identityHolds(c), JSON.stringify(c));
});
