import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { parseConfig } from '../../src/config/load.js';
import { NG_CROP_MARGIN_PX } from '../../src/pipeline/operators/line-scan.js';
import { NgImageSink } from '../../src/pipeline/sinks/ng-images.js';
import { Station } from '../../src/pipeline/station.js';
import { BG, BUFFER_LINES, DISCS, LINES, WIDTH, strip, stripCamera } from '../helpers/line-scan-strip.js';

const TINY = fileURLToPath(new URL('../../../test/fixtures/models/tiny-inp/', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * NG crops of line-scan segments, through the station (and the CLI's wiring) on the tiny real
 * model. The strip is test/helpers/line-scan-strip.ts's: 152 px wide, 10 buffers of 40 lines, 1 mm per
 * pixel and per line, segments of 100 mm, one bright disc in each of the first three segments.
 */
function configInput(file: string, ngDir: string, ngEnabled: boolean, maxFrames: number) {
  return {
    model: { bundle: TINY, intraOpThreads: 1 },
    sinks: { ngImages: { enabled: ngEnabled, dir: ngDir, maxFrames, quality: 90 } },
    cameras: [stripCamera(file, BUFFER_LINES)],
  };
}

/** Runs the strip through a Station with an NG image sink wired as `linewatch run` wires it. */
async function runWithSink(dir: string, maxFrames: number): Promise<{ written: number; skipped: number }> {
  const file = join(dir, 'web.rgb');
  writeFileSync(file, strip());
  const ngDir = join(dir, 'ng');
  const config = parseConfig(configInput(file, ngDir, true, maxFrames), 'line-scan ng test config');
  const station = await Station.start(config, { logger: quiet, deferCameras: true });
  const cal = station.activeManifest().calibration.pixel;
  const sink = new NgImageSink({ dir: ngDir, maxFrames, quality: 90, mapMin: cal.min, mapMax: cal.max });
  station.judged$.subscribe((j) => sink.offer(j));
  station.begin();
  await station.ended();
  await station.stop();
  await sink.flush();
  return sink.stats();
}

interface Sidecar {
  seq: number;
  segment: number;
  startMm: number;
  endMm: number;
  defect: number;
  defects: number;
  line: number;
  lines: number;
  x: number;
  w: number;
  alongMm: number;
  acrossMm: number;
  crop: { x: number; line: number; width: number; height: number };
}

test('line-scan NG crops: one per defect of each rejected segment, placed by name and sidecar, the disc inside, JPEGs of the crop size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-ng-'));
  try {
    const stats = await runWithSink(dir, 10);
    assert.deepEqual(stats, { written: 3, skipped: 0 });
    const ngDir = join(dir, 'ng');
    const names = readdirSync(ngDir).sort();
    const stems = names.filter((n) => n.endsWith('-ng.jpg')).map((n) => n.slice(0, -'-ng.jpg'.length));
    assert.equal(stems.length, 3, names.join(' '));
    assert.equal(names.length, 9, 'an NG image, a heatmap overlay and a sidecar per crop');
    const bySegment = new Map<number, { stem: string; s: Sidecar }>();
    for (const stem of stems) {
      const s = JSON.parse(readFileSync(join(ngDir, `${stem}.json`), 'utf8')) as Sidecar;
      const m = /-web1-(\d{8})-seg(\d{6})-d(\d{2})-line(\d{6})-x(\d{4})$/.exec(stem);
      assert.ok(m !== null, stem);
      assert.deepEqual(m.slice(1).map(Number), [s.seq, s.segment, s.defect, s.line, s.x], `${stem}: the name says what the sidecar says`);
      bySegment.set(s.segment, { stem, s });
    }
    assert.deepEqual([...bySegment.keys()].sort(), [0, 1, 2], 'the three rejected segments; none for the clean last one');
    for (let i = 0; i < DISCS.length; i++) {
      const disc = DISCS[i]!;
      const { stem, s } = bySegment.get(i)!;
      assert.deepEqual([s.seq, s.startMm, s.endMm, s.defect, s.defects], [i, i * 100, i * 100 + 100, 0, 1]);
      // The defect box holds the disc centre; 1 mm per line and per pixel.
      assert.ok(s.x <= disc.cx && disc.cx < s.x + s.w && s.line <= disc.cy && disc.cy < s.line + s.lines, `${stem}: ${JSON.stringify(s)}`);
      assert.equal(s.alongMm, s.line);
      assert.equal(s.acrossMm, s.x);
      assert.ok(s.alongMm >= s.startMm && s.alongMm < s.endMm, 'the defect lies in its segment');
      // The crop: the box plus the margin, clamped to the strip.
      const m = NG_CROP_MARGIN_PX;
      const x0 = Math.max(0, s.x - m);
      const x1 = Math.min(WIDTH, s.x + s.w + m);
      const l0 = Math.max(0, s.line - m);
      const l1 = Math.min(LINES, s.line + s.lines + m);
      assert.deepEqual(s.crop, { x: x0, line: l0, width: x1 - x0, height: l1 - l0 }, stem);
      for (const suffix of ['-ng.jpg', '-heatmap.jpg']) {
        const meta = await sharp(join(ngDir, `${stem}${suffix}`)).metadata();
        assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', s.crop.width, s.crop.height], `${stem}${suffix}`);
      }
      // The NG image is the strip there: the disc bright at its centre, the plain web at a far corner.
      const { data, info } = await sharp(join(ngDir, `${stem}-ng.jpg`)).raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number): number => data[(y * info.width + x) * info.channels]!;
      assert.ok(at(disc.cx - s.crop.x, disc.cy - s.crop.line) > 220, `${stem}: disc at its centre`);
      const cornerX = disc.cx - s.crop.x > s.crop.width / 2 ? 1 : s.crop.width - 2;
      const cornerY = disc.cy - s.crop.line > s.crop.height / 2 ? 1 : s.crop.height - 2;
      assert.ok(Math.abs(at(cornerX, cornerY) - BG[0]) < 12, `${stem}: plain web at (${cornerX}, ${cornerY}): ${at(cornerX, cornerY)}`);
      // The overlay is hot over the disc (red up, blue down against the NG image), not at the corner.
      const heat = await sharp(join(ngDir, `${stem}-heatmap.jpg`)).raw().toBuffer({ resolveWithObject: true });
      const px = (buf: Buffer, x: number, y: number) => [0, 1, 2].map((c) => buf[(y * info.width + x) * info.channels + c]!);
      const [ng, hot] = [px(data, disc.cx - s.crop.x, disc.cy - s.crop.line), px(heat.data, disc.cx - s.crop.x, disc.cy - s.crop.line)];
      assert.ok(ng[2]! - hot[2]! > 40, `${stem}: overlay over the disc: ${JSON.stringify({ ng, hot })}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('line-scan NG crops share the ring: beyond maxFrames the oldest crops go, sidecars with them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-ng-'));
  try {
    const stats = await runWithSink(dir, 2);
    assert.equal(stats.written, 3);
    const names = readdirSync(join(dir, 'ng'));
    assert.equal(names.filter((n) => n.endsWith('-ng.jpg')).length, 2, names.join(' '));
    assert.equal(names.filter((n) => n.endsWith('-heatmap.jpg')).length, 2);
    assert.equal(names.filter((n) => n.endsWith('.json')).length, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('linewatch run on a line-scan camera: NG crops written when sinks.ngImages is enabled, nothing when it is not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-ng-'));
  try {
    const file = join(dir, 'web.rgb');
    writeFileSync(file, strip());
    for (const enabled of [false, true]) {
      const ngDir = join(dir, `ng-${enabled}`);
      const cfg = join(dir, `config-${enabled}.yaml`);
      writeFileSync(cfg, JSON.stringify(configInput(file, ngDir, enabled, 10)));
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'run', '--config', cfg, '--no-mqtt', '--json'], { timeout: 120_000 });
      const verdicts = stdout.trim().split('\n').map((l) => JSON.parse(l) as { verdict: string });
      assert.deepEqual(verdicts.map((v) => v.verdict), ['reject', 'reject', 'reject', 'ok']);
      if (enabled) assert.equal(readdirSync(ngDir).filter((n) => n.endsWith('-ng.jpg')).length, 3);
      else assert.ok(!existsSync(ngDir), 'disabled: the folder is not even made');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
