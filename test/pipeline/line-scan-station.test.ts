import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { firstValueFrom, toArray } from 'rxjs';
import { parseConfig } from '../../src/config/load.js';
import { identityHolds } from '../../src/pipeline/counters.js';
import { Station } from '../../src/pipeline/station.js';
import { BUFFER_LINES, BUFFERS, DISCS, strip, stripCamera } from '../helpers/line-scan-strip.js';

const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function lineScanConfig(file: string, bufferLines: number) {
  return parseConfig({ model: { bundle: TINY, intraOpThreads: 1 }, cameras: [stripCamera(file, bufferLines)] }, 'line-scan test config');
}

test('a line-scan strip through the station: one verdict per segment, each defect once in its segment with its place along and across the web', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-station-'));
  try {
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip());
    const config = lineScanConfig(file, BUFFER_LINES);
    const station = await Station.start(config, { logger: quiet });
    const all = firstValueFrom(station.verdicts$.pipe(toArray()));
    await station.ended();
    await station.stop();
    const verdicts = await all;
    assert.deepEqual(
      verdicts.map((v) => [v.seq, v.meta?.['segment'], v.meta?.['startMm'], v.meta?.['endMm'], v.verdict]),
      [
        [0, 0, 0, 100, 'reject'],
        [1, 1, 100, 200, 'reject'],
        [2, 2, 200, 300, 'reject'],
        [3, 3, 300, 400, 'ok'],
      ],
      'one verdict per 100 mm segment, in order; the clean last one is ok',
    );
    for (let i = 0; i < DISCS.length; i++) {
      const disc = DISCS[i]!;
      const v = verdicts[i]!;
      assert.equal(v.defects.length, 1, `segment ${i}: the disc at (${disc.cx}, ${disc.cy}) is reported once: ${JSON.stringify(v.defects)}`);
      const d = v.defects[0]!;
      // Strip coordinates: pixels across, absolute lines along; the map's blur widens the box a little.
      assert.ok(d.x <= disc.cx && disc.cx < d.x + d.w && d.y <= disc.cy && disc.cy < d.y + d.h, `segment ${i}: box ${JSON.stringify(d)} holds the disc centre`);
      // The model's map is blurred (sigma 4 map pixels): up to ~8 px more on each side than the disc.
      assert.ok(d.w <= 2 * disc.r + 16 && d.h <= 2 * disc.r + 16, `segment ${i}: box ${JSON.stringify(d)} is about the disc's size`);
      const line = (v.meta?.['lineDefects'] as { alongMm: number; acrossMm: number }[])[0]!;
      assert.equal(line.alongMm, d.y, '1 mm per line');
      assert.equal(line.acrossMm, d.x, '1 mm per pixel');
    }
    assert.equal(verdicts[3]!.defects.length, 0);
    // `received` counts segments for a line-scan camera.
    const c = station.counters();
    assert.deepEqual([c.received, c.ok, c.reject, c.error, c.dropped, c.inFlight], [4, 1, 3, 0, 0, 0]);
    assert.ok(identityHolds(c));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('line-scan buffers of the wrong height are error verdicts, one each, counted as received; the stream goes on to its end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-station-'));
  try {
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip());
    const station = await Station.start(lineScanConfig(file, BUFFER_LINES + 8), { logger: quiet });
    const all = firstValueFrom(station.verdicts$.pipe(toArray()));
    await station.ended();
    await station.stop();
    const verdicts = await all;
    assert.equal(verdicts.length, BUFFERS);
    assert.ok(verdicts.every((v) => v.verdict === 'error' && v.reasons[0]?.code === 'LW_ERR_FRAME_INVALID'), JSON.stringify(verdicts[0]?.reasons));
    assert.match(verdicts[0]!.reasons[0]!.message, /40 lines, lineScan.bufferLines is 48/);
    assert.deepEqual(verdicts.map((v) => v.seq), [...Array(BUFFERS).keys()]);
    const c = station.counters();
    assert.deepEqual([c.received, c.error, c.inFlight], [BUFFERS, BUFFERS, 0]);
    assert.ok(identityHolds(c));
    assert.equal(station.health().reasons.length, 0, 'a bad buffer does not degrade the camera');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('line-scan partIds from PLC triggers with encoder positions: each buffer names the part under its first line, each segment takes the part its middle lies in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-parts-'));
  try {
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip());
    const base = stripCamera(file, BUFFER_LINES);
    const camera = {
      ...base,
      triggers: { timeoutMs: 30_000 },
      // 10 encoder counts per mm, 1 mm per line: buffer k starts at count 400 k.
      lineScan: { ...base.lineScan, resolution: { kind: 'encoder' as const, countsPerMm: 10 }, parts: { from: 'triggers' as const } },
    };
    const config = parseConfig({ model: { bundle: TINY, intraOpThreads: 1 }, cameras: [camera] }, 'line-scan parts config');
    const station = await Station.start(config, { logger: quiet, deferCameras: true });
    const all = firstValueFrom(station.verdicts$.pipe(toArray()));
    // Parts by buffer: A lines 0–79, B 80–199, C 200–319, D 320–399.
    const partOfBuffer = ['A', 'A', 'B', 'B', 'B', 'C', 'C', 'C', 'D', 'D'];
    const at = Date.now();
    for (let k = 0; k < BUFFERS; k++) station.pushTrigger({ partId: partOfBuffer[k]!, encoderPos: 400 * k, at, triggerId: `t${k}` });
    station.begin();
    await station.ended();
    await station.stop();
    const verdicts = await all;
    // Segments of 100 mm: middles at 50, 150, 250, 350 mm → parts A, B, C, D.
    assert.deepEqual(
      verdicts.map((v) => [v.seq, v.meta?.['startMm'], v.partId, v.verdict]),
      [
        [0, 0, 'A', 'reject'],
        [1, 100, 'B', 'reject'],
        [2, 200, 'C', 'reject'],
        [3, 300, 'D', 'ok'],
      ],
    );
    assert.equal(station.counters().triggersMatched, BUFFERS);
    assert.ok(identityHolds(station.counters()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
