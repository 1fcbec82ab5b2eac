import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { parseConfig } from '../../../src/config/load.js';
import { Daemon } from '../../../src/daemon.js';
import { identityHolds } from '../../../src/pipeline/counters.js';
import { ejects } from '../../../src/pipeline/decide.js';
import { Writable } from 'node:stream';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { startMosquitto } from './helpers/mosquitto.js';
import { observe } from './helpers/observer.js';
import { quietLogger } from './helpers/subject-station.js';

const TINY = fileURLToPath(new URL('../../../../test/fixtures/models/tiny-inp/', import.meta.url));
/** Console lines of a daemon under test go nowhere. */
function devNull(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

interface ResultMsg { seq: number; partId: string; verdict: string; configVersion: string; late: boolean }
interface Ack { accepted: boolean; reasons: string[]; activeVersion: number }

test('end to end on the tiny model: wire counts equal the station counters; a hot update changes verdicts at one seq; a model that fails to load is refused; heatmaps throttled', async () => {
  const broker = await startMosquitto();
  const stateDir = mkdtempSync(join(tmpdir(), 'lw-e2e-'));
  const root = 'linewatch/e2e/l1/st1';
  const config = parseConfig(
    {
      model: { bundle: TINY, intraOpThreads: 1 },
      // good-0, good-1, defect-0, defect-1 sorted: defect-* first. 30 fps, looped.
      cameras: [{ id: 'cam1', source: { type: 'folder', path: join(TINY, 'samples'), loop: true, fps: 30 } }],
      mqtt: {
        url: broker.url,
        site: 'e2e',
        line: 'l1',
        station: 'st1',
        reject: { deadlineMs: 60_000 },
        heatmap: { enabled: true, maxPerSecond: 4 },
        remoteConfig: { requireSignature: false, stateDir },
      },
    },
    'e2e config',
  );
  const obs = await observe(broker.url, [`${root}/#`]);
  // Before the start: heatmaps may go out while Daemon.start finishes (slowly, on a loaded
  // machine), and the rate bound below must count the time they had.
  const startedAt = Date.now();
  const daemon = await Daemon.start(config, { baseDir: process.cwd(), logger: quietLogger, mqtt: true, out: devNull() });
  const station = daemon.station;
  const mqtt = daemon.mqtt!;
  const local: Verdict[] = [];
  station.verdicts$.subscribe((v) => local.push(v));
  try {
    await mqtt.link.whenOnline(5_000);
    await obs.until(() => obs.on(`${root}/result`).length >= 12, 'first results', 20_000);
    const send = async (body: object): Promise<Ack> => {
      const n = obs.on(`${root}/config/ack`).length;
      await obs.client.publishAsync(`${root}/config/set`, JSON.stringify(body), { qos: 1 });
      await obs.until(() => obs.on(`${root}/config/ack`).length > n, 'ack', 20_000);
      return obs.json<Ack>(`${root}/config/ack`)[n] as Ack;
    };
    // A raw image threshold far above any score: from the next frame on, nothing is rejected.
    const hot = await send({ version: 2, baseVersion: 1, patch: { decide: { image: { value: 1e9, scale: 'raw' } } }, by: 'e2e' });
    assert.equal(hot.accepted, true, JSON.stringify(hot.reasons));
    assert.equal(hot.activeVersion, 2);
    const broken = await send({ version: 3, baseVersion: 2, patch: { model: { bundle: join(stateDir, 'no-such-bundle') } } });
    assert.equal(broken.accepted, false);
    assert.ok(broken.reasons.some((r) => r.includes('no-such-bundle')), JSON.stringify(broken.reasons));
    assert.equal(broken.activeVersion, 2);
    assert.equal(station.activeConfig().model.bundle, config.model.bundle, 'the running model is untouched');

    // Judge a dozen frames under version 2, then stop: stop() finishes the frames in flight.
    await obs.until(() => obs.json<ResultMsg>(`${root}/result`).filter((r) => r.configVersion === '2').length >= 12, 'results under version 2', 20_000);
    await station.stop();
    const counters = station.counters();
    assert.ok(identityHolds(counters));
    const judged = counters.ok + counters.reject + counters.error + counters.dropped;
    assert.equal(counters.inFlight, 0, 'stop() finished the frames in flight');
    assert.equal(local.length, judged, 'one verdict per judged frame');
    await obs.until(() => obs.on(`${root}/result`).length >= judged, `every result (${JSON.stringify(counters)}, ${obs.on(`${root}/result`).length} on the wire, link ${JSON.stringify(mqtt.link.counters())})`, 10_000);
    const ejected = local.filter((v) => ejects(v));
    await obs.until(() => obs.on(`${root}/reject`).length >= ejected.length, 'every reject', 10_000);

    const results = obs.json<ResultMsg>(`${root}/result`);
    assert.equal(results.length, counters.received, 'one result per frame');
    const rejectSeqs = new Set(obs.json<{ seq: number }>(`${root}/reject`).map((r) => r.seq));
    const failSafeEjects = local.filter((v) => v.verdict !== 'reject' && ejects(v)).length;
    assert.equal(rejectSeqs.size, counters.reject + failSafeEjects, "one reject per the station's reject count (plus failSafe errors/drops)");
    assert.deepEqual([...rejectSeqs].sort((a, b) => a - b), ejected.map((v) => v.seq).sort((a, b) => a - b), 'rejects on the wire = parts the station ejected');
    assert.ok(counters.reject > 0, 'defects were rejected before the update');

    const switchAt = results.find((r) => r.configVersion === '2')?.seq;
    assert.ok(switchAt !== undefined, 'frames were judged under version 2');
    for (const r of results) {
      assert.equal(r.configVersion, r.seq < switchAt ? '1' : '2', `seq ${r.seq}: one switch point`);
      if (r.seq >= switchAt) assert.notEqual(r.verdict, 'reject', `seq ${r.seq} after the update`);
    }
    assert.ok(results.some((r) => r.seq < switchAt && r.verdict === 'reject'));

    // Heatmaps: JPEG overlays at the camera's size, no more than maxPerSecond.
    const heatmaps = obs.on(`${root}/heatmap`);
    assert.ok(heatmaps.length >= 1, 'at least one heatmap');
    const elapsedS = (Date.now() - startedAt) / 1000;
    assert.ok(heatmaps.length <= Math.ceil(elapsedS * 4) + 1, `${heatmaps.length} heatmaps in ${elapsedS} s exceeds 4/s`);
    const meta = await sharp(heatmaps[0]!.payload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 64]);
    assert.equal(mqtt.publisher.counters().heatmaps, heatmaps.length);

    // Restart with the same file: the update accepted over MQTT is what runs.
    await mqtt.close();
    const again = await Daemon.start(config, { baseDir: process.cwd(), logger: quietLogger, mqtt: true, maxFrames: 4, out: devNull() });
    const verdicts: Verdict[] = [];
    again.station.verdicts$.subscribe((v) => verdicts.push(v));
    try {
      assert.equal(again.station.activeConfig().version, '2');
      assert.equal(again.station.activeConfig().decide.image.value, 1e9);
      assert.equal(again.controlPlane?.active.version, 2);
      await again.ended();
      assert.equal(verdicts.length, 4);
      assert.ok(verdicts.every((v) => v.configVersion === '2' && v.verdict === 'ok'), 'defect samples pass under the restored threshold');
    } finally {
      await again.stop();
    }
  } finally {
    await daemon.stop();
    await obs.close();
    await broker.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
