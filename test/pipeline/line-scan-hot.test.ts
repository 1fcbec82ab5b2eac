import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { Station } from '../../src/pipeline/station.js';
import type { Verdict } from '../../src/pipeline/verdict.js';
import { BUFFER_LINES, WIDTH, strip, stripCamera } from '../helpers/line-scan-strip.js';

const fixtures = fileURLToPath(new URL('../../../test/fixtures/models/', import.meta.url));
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/**
 * The strip paced (clocksync, 10 or 2 buffers/s), so that a change made after the first segment is
 * decided lands while the web still runs: the pixel threshold of the next bands is the one in
 * force, not the one of the first buffer.
 */
function pacedConfig(file: string, bundle: string, fps: number): Config {
  const cam = stripCamera(file, BUFFER_LINES);
  cam.source.input.pipeline = `filesrc location=${file} blocksize=${WIDTH * BUFFER_LINES * 3} ! rawvideoparse width=${WIDTH} height=${BUFFER_LINES} format=rgb framerate=${fps}/1 ! clocksync ! appsink name=sink`;
  return parseConfig({ model: { bundle, intraOpThreads: 1 }, cameras: [cam], decide: { rejectOn: 'defect' } }, 'paced line-scan');
}

/** The verdicts, and how many segments were decided when the change had been applied. */
async function runWithChange(change: (c: Config) => Config, bundle: string, fps = 10): Promise<{ verdicts: Verdict[]; appliedAt: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-hot-'));
  try {
    const file = join(dir, 'web.rgb');
    // The strip twice: discs in segments 0, 1, 2 and again in 4, 5, 6, the second web long after any change.
    writeFileSync(file, Buffer.concat([strip(), strip()]));
    const config = pacedConfig(file, bundle, fps);
    const station = await Station.start(config, { logger: quiet });
    const verdicts: Verdict[] = [];
    let changed: Promise<unknown> | null = null;
    let appliedAt = -1;
    station.verdicts$.subscribe((v) => {
      verdicts.push(v);
      if (changed === null) {
        changed = station.applyConfig(change(config)).then(() => {
          appliedAt = verdicts.length;
        });
      }
    });
    await station.ended();
    await changed;
    await station.stop();
    return { verdicts, appliedAt };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('line-scan: a hot pixel-threshold change applies from the next band, not frozen at the first buffer', async () => {
  const { verdicts } = await runWithChange((c) => ({ ...c, version: '2', decide: { ...c.decide, pixel: { value: 1e9, scale: 'raw' } } }), join(fixtures, 'tiny-inp'));
  assert.equal(verdicts[0]?.verdict, 'reject', 'the first segment, judged before the change, has its defect');
  const second = verdicts.filter((v) => v.seq >= 4 && v.seq <= 6);
  assert.equal(second.length, 3);
  assert.ok(second.every((v) => v.configVersion === '2' && v.defects.length === 0 && v.verdict === 'ok'), JSON.stringify(second.map((v) => [v.seq, v.configVersion, v.defects.length])));
});

test('line-scan: a model swap brings its own pixel calibration to the next band', async () => {
  // The same network, calibrated so that the map never reaches its pixel boundary: after the swap
  // the strip's defects must vanish, which they would not if the first model's threshold stayed.
  const dir = mkdtempSync(join(tmpdir(), 'lw-ls-model-'));
  try {
    const bundle = join(dir, 'blind');
    cpSync(join(fixtures, 'tiny-inp'), bundle, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(bundle, 'model.json'), 'utf8')) as { version: string; calibration: { pixel: { threshold: number; min: number; max: number } } };
    manifest.version = 'blind-1';
    manifest.calibration.pixel = { threshold: 1000, min: 0, max: 1 };
    writeFileSync(join(bundle, 'model.json'), JSON.stringify(manifest));
    // 2 buffers/s: a new engine is built and warmed beside the running one, which takes a moment.
    const { verdicts, appliedAt } = await runWithChange((c) => ({ ...c, version: '2', model: { ...c.model, bundle } }), join(fixtures, 'tiny-inp'), 2);
    assert.equal(verdicts[0]?.verdict, 'reject');
    // Segments holding a disc (0, 1, 2 and 4, 5, 6) whose every band came after the swap (the one
    // under way when it landed may keep rows read by the old model) pass under the new boundary.
    const after = verdicts.filter((v) => [0, 1, 2, 4, 5, 6].includes(v.seq) && v.seq > appliedAt);
    assert.ok(after.length >= 1, `a disc segment wholly after the swap (applied after ${appliedAt} segments)`);
    assert.ok(after.every((v) => v.modelVersion === 'blind-1' && v.defects.length === 0), JSON.stringify(after.map((v) => [v.seq, v.modelVersion, v.defects.length])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
