import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import sharp from 'sharp';
import { computeGeometry } from '../../src/pipeline/geometry.js';
import { consoleSink, formatVerdictLine } from '../../src/pipeline/sinks/console.js';
import { heatmapJpeg } from '../../src/io/mqtt/heatmap.js';
import { NgImageSink } from '../../src/pipeline/sinks/ng-images.js';
import { SummaryCollector, formatSummary } from '../../src/pipeline/sinks/summary.js';
import type { Verdict } from '../../src/pipeline/verdict.js';

function verdict(seq: number, kind: Verdict['verdict'], totalMs: number): Verdict {
  return {
    seq,
    cameraId: 'cam1',
    partId: `p${seq}`,
    verdict: kind,
    score: kind === 'ok' || kind === 'reject' ? 1.5 : null,
    normScore: kind === 'reject' ? 0.8 : kind === 'ok' ? 0.2 : null,
    defects: kind === 'reject' ? [{ x: 3, y: 4, w: 5, h: 6, area: 20, maxScore: 2 }] : [],
    reasons: kind === 'reject' ? [{ code: 'SCORE_OVER_THRESHOLD', message: 'x' }] : kind === 'error' ? [{ code: 'LW_ERR_FRAME_DECODE', message: 'bad.png: corrupt' }, { code: 'FAILSAFE_REJECT', message: 'y' }] : [],
    timings: { captureToInferMs: 1, inferMs: 2, postMs: 0.1, totalMs },
    modelVersion: 'm',
    configVersion: '1',
    capturedAtMs: Date.UTC(2026, 0, 1, 12, 0, 0),
  };
}

test('console: one human line per verdict, or one JSON verdict per line', () => {
  const line = formatVerdictLine(verdict(42, 'reject', 12.34));
  assert.match(line, /^12:00:00\.000 cam1 +#42 +p42 +REJECT +norm 0\.800 raw 1\.500 +1 defect, largest 20 px at \(3,4\) +12\.3 ms +SCORE_OVER_THRESHOLD$/);
  assert.match(formatVerdictLine(verdict(7, 'error', 1)), /ERROR +bad\.png: corrupt .*LW_ERR_FRAME_DECODE,FAILSAFE_REJECT/);
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  const sink = consoleSink({ json: true, out });
  sink(verdict(1, 'ok', 3));
  sink(verdict(2, 'reject', 4));
  const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Verdict);
  assert.deepEqual(lines.map((v) => [v.seq, v.verdict]), [[1, 'ok'], [2, 'reject']]);
});

test('summary: counts, latency percentiles of judged frames, identity', () => {
  const s = new SummaryCollector(1000);
  for (let i = 1; i <= 100; i++) s.add(verdict(i, i % 10 === 0 ? 'reject' : 'ok', i));
  s.add(verdict(101, 'dropped', 5000));
  assert.equal(s.latencyPercentile(50), 50);
  assert.equal(s.latencyPercentile(99), 99, 'dropped frames are not in the latency');
  const r = s.report({ received: 101, ok: 90, reject: 10, error: 0, dropped: 1, inFlight: 0, lost: 0, late: 0 });
  assert.equal(r.identityHolds, true);
  const text = formatSummary(r);
  assert.match(text, /101 frames/);
  assert.match(text, /ok 90 {2}reject 10 {2}error 0 {2}dropped 1/);
  assert.match(text, /p50 50\.0 ms {2}p99 99\.0 ms/);
  assert.match(text, /holds/);
});

test('NG images: image + heatmap JPEG per reject, ring bounded to maxFrames', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-ng-'));
  try {
    const sink = new NgImageSink({ dir, maxFrames: 2, quality: 80, mapMin: 0, mapMax: 1, maxPendingWrites: 1 });
    const data = Buffer.alloc(40 * 30 * 3, 128);
    const geometry = computeGeometry({ width: 40, height: 30 }, { width: 20, height: 20 }, { width: 16, height: 16 });
    const map = new Float32Array(16 * 16);
    map[5 * 16 + 5] = 1;
    for (let seq = 0; seq < 4; seq++) {
      const frame = { seq, cameraId: 'cam1', capturedAt: { monoNs: 0n, wallMs: Date.UTC(2026, 0, 1, 0, 0, seq) }, image: { kind: 'raw' as const, format: 'RGB' as const, width: 40, height: 30, data }, meta: {} };
      sink.offer({ frame, verdict: { ...verdict(seq, 'reject', 1), capturedAtMs: frame.capturedAt.wallMs }, map, mapHeight: 16, mapWidth: 16, geometry });
      sink.offer({ frame, verdict: verdict(seq, 'ok', 1), map, mapHeight: 16, mapWidth: 16, geometry });
      await sink.flush();
    }
    const files = (await readdir(dir)).sort();
    assert.equal(files.length, 4, files.join());
    assert.ok(files[0]!.includes('cam1-00000002') && files[3]!.includes('cam1-00000003'), 'the two newest rejects are kept');
    const meta = await sharp(join(dir, files.find((f) => f.endsWith('-heatmap.jpg'))!)).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.deepEqual([meta.width, meta.height], [40, 30], 'overlay on the whole camera image');
    assert.deepEqual(sink.stats(), { written: 4, skipped: 0 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('NG images and the MQTT heatmap show a BGR camera in its true colours, and leave its buffer as it was', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-ng-bgr-'));
  try {
    const data = Buffer.alloc(40 * 30 * 3);
    for (let i = 0; i < data.length; i += 3) data.set([200, 10, 30], i); // blue, in B, G, R order
    const before = Buffer.from(data);
    const geometry = computeGeometry({ width: 40, height: 30 }, { width: 20, height: 20 }, { width: 16, height: 16 });
    const frame = { seq: 0, cameraId: 'cam1', capturedAt: { monoNs: 0n, wallMs: Date.UTC(2026, 0, 1) }, image: { kind: 'raw' as const, format: 'BGR' as const, width: 40, height: 30, data }, meta: {} };
    const judged = { frame, verdict: { ...verdict(0, 'reject', 1), capturedAtMs: frame.capturedAt.wallMs }, map: new Float32Array(16 * 16), mapHeight: 16, mapWidth: 16, geometry };
    const sink = new NgImageSink({ dir, maxFrames: 2, quality: 95, mapMin: 0, mapMax: 1 });
    sink.offer(judged);
    await sink.flush();
    const ng = (await readdir(dir)).find((f) => f.endsWith('-ng.jpg'))!;
    const rgbAt = async (jpeg: string | Buffer): Promise<number[]> => [...(await sharp(jpeg).extract({ left: 2, top: 2, width: 1, height: 1 }).raw().toBuffer())];
    for (const [got, what] of [[await rgbAt(join(dir, ng)), 'NG image'], [await rgbAt(await heatmapJpeg(judged, { min: 0, max: 1 }, 95)), 'MQTT heatmap']] as const) {
      assert.ok(Math.abs(got[0]! - 30) < 12 && Math.abs(got[2]! - 200) < 12, `${what}: red 30, blue 200, got ${got.join(',')}`);
    }
    assert.ok(data.equals(before), "the camera's buffer is not swapped in place");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
