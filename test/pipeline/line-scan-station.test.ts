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

test('a live line-scan camera faster than the judge: its buffers wait in a bounded queue, each one left out is counted, logged and charged to the segment it falls in (dropped by failSafe, or reject with LINES_LOST), and every buffer is accounted for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-overflow-'));
  try {
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip());
    const base = stripCamera(file, BUFFER_LINES);
    // The file played live, looping, unsynced: buffers come as fast as GStreamer reads them, far
    // faster than a band of tiles is inferred. The appsink may hold 64 (it rarely needs to drop).
    const pipeline = base.source.input.pipeline;
    const camera = { ...base, source: { ...base.source, maxBuffers: 64, input: { preset: 'launch', live: true, pipeline } } };
    const config = parseConfig({ model: { bundle: TINY, intraOpThreads: 1 }, inference: { maxQueuedFrames: 2 }, cameras: [camera] }, 'line-scan overflow config');
    const lost: { seq: number; reason: string }[] = [];
    const logger = {
      info: () => {},
      error: () => {},
      warn: (o: Record<string, unknown>) => {
        if (typeof o['bufferSeq'] === 'number') lost.push({ seq: o['bufferSeq'], reason: String(o['reason']) });
      },
    };
    const TAKEN = 4 * BUFFERS;
    const station = await Station.start(config, { logger, maxFramesPerCamera: TAKEN });
    const all = firstValueFrom(station.verdicts$.pipe(toArray()));
    await station.ended();
    await station.stop();
    const verdicts = await all;
    const leftOut = lost.filter((l) => l.reason === 'queue-full');
    assert.ok(leftOut.length > 0, `the judge's queue overflowed and buffers were left out (losses logged: ${JSON.stringify(lost)})`);
    // Every loss is in `lost` and charged to exactly one segment verdict, by seq.
    const c = station.counters();
    assert.equal(c.lost, lost.length);
    const charged = verdicts.flatMap((v) => ((v.meta?.['lostBufferSeqs'] as [number, number][] | undefined) ?? []).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)));
    assert.equal(new Set(charged).size, charged.length, 'no buffer charged twice');
    assert.deepEqual([...charged].sort((a, b) => a - b), charged, 'charged in order');
    for (const l of leftOut) assert.ok(charged.includes(l.seq), `buffer ${l.seq}, left out, is charged to a segment`);
    // (A buffer the source reports lost after the last one taken has no segment left: counted and logged only.)
    for (const seq of charged) assert.ok(lost.some((l) => l.seq === seq), `charged buffer ${seq} was logged lost`);
    // The buffers taken were judged: the segments cover their lines (1 mm a line, 100 mm segments).
    const judgedBuffers = TAKEN - leftOut.length;
    const segments = verdicts.filter((v) => v.meta?.['segment'] !== undefined);
    // (A last partial segment is decided only when it holds a defect.)
    const lines = judgedBuffers * BUFFER_LINES;
    assert.ok(segments.length >= Math.floor(lines / 100) && segments.length <= Math.ceil(lines / 100), `${segments.length} segments for ${lines} lines judged`);
    // Buffers lost after the last segment: one `dropped` verdict for that web, at most.
    assert.ok(verdicts.length - segments.length <= 1);
    for (const v of verdicts) {
      const n = v.meta?.['buffersLost'];
      if (n === undefined) {
        assert.ok(v.verdict === 'ok' || v.verdict === 'reject');
        continue;
      }
      const codes = v.reasons.map((r) => r.code);
      assert.ok(codes.includes('LINES_LOST'), JSON.stringify(v.reasons));
      if (v.verdict === 'dropped') assert.ok(codes.some((k) => k.startsWith('FAILSAFE_')), JSON.stringify(v.reasons));
      else assert.equal(v.verdict, 'reject', 'a segment with lost lines is never ok');
    }
    assert.ok(verdicts.some((v) => v.meta?.['buffersLost'] !== undefined));
    assert.equal(c.received, verdicts.length);
    assert.ok(identityHolds(c), JSON.stringify(c));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
