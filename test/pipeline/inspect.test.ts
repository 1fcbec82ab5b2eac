/**
 * The Inspector: per-frame context (camera ROI, extra inputs) inside one batch, the map and judge
 * stages apart, and prompted models — served per frame, or refused where nothing can serve them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { parseConfig } from '../../src/config/load.js';
import { decideConfigSchema } from '../../src/config/sections.js';
import { LinewatchError } from '../../src/errors.js';
import { loadBundle, InferenceEngine, type Bundle } from '../../src/models/index.js';
import { captureTimeNow, type Frame } from '../../src/pipeline/frame.js';
import type { Rect } from '../../src/pipeline/geometry.js';
import { Inspector, createModelSlot, type FrameContext, type ModelSlot } from '../../src/pipeline/inspect/index.js';
import { DEFAULT_MAX_FRAME_PIXELS, preparePixels, type PreparedPixels } from '../../src/pipeline/preprocess/index.js';
import { Station } from '../../src/pipeline/station.js';
import { decode, fixture, maxAbsDiff, readGolden } from '../models/helpers.js';

const rules = { decide: decideConfigSchema.parse(undefined), configVersion: 'test' };
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const MAX = DEFAULT_MAX_FRAME_PIXELS;

interface Loaded {
  bundle: Bundle;
  engine: InferenceEngine;
  slot: ModelSlot;
}
let inp: Loaded;
let prompted: Loaded;

async function load(name: 'tiny-inp' | 'tiny-prompted'): Promise<Loaded> {
  const bundle = await loadBundle(fixture(name));
  const engine = await InferenceEngine.create(bundle, { workers: 1, intraOpThreads: 1 });
  return { bundle, engine, slot: createModelSlot(bundle, engine) };
}

before(async () => {
  inp = await load('tiny-inp');
  prompted = await load('tiny-prompted');
});

after(async () => {
  await inp.engine.close();
  await prompted.engine.close();
});

let seq = 0;
function fileFrame(cameraId: string, data: Buffer, meta: Record<string, unknown> = {}): Frame {
  return { seq: seq++, cameraId, capturedAt: captureTimeNow(), image: { kind: 'encoded', data }, meta };
}

async function sample(bundle: Bundle, name: string): Promise<Buffer> {
  return readFile(join(bundle.dir, 'samples', `${name}.png`));
}

function inspector(slot: ModelSlot, frameContext: (f: Frame) => FrameContext): Inspector {
  return new Inspector({ model: () => slot, rules: () => rules, prepare: (f, m, c) => preparePixels(f, m, c.roi, c.maxFramePixels), frameContext, judged: () => null });
}

test('one batch, two cameras: each frame is prepared with its own camera ROI and its defects come back in its own camera pixels', async () => {
  const png = await sample(inp.bundle, 'defect-0');
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  // cam2 sees the same part inside a larger image, at (32, 16); its ROI cuts it out again.
  assert.equal(info.channels, 3);
  const big = Buffer.alloc(160 * 112 * 3, 90);
  for (let y = 0; y < 64; y++) data.copy(big, ((y + 16) * 160 + 32) * 3, y * 64 * 3, (y + 1) * 64 * 3);
  const roi: Rect = { x: 32, y: 16, width: 64, height: 64 };
  const contexts: Record<string, FrameContext> = { cam1: { roi: undefined, maxFramePixels: MAX, extras: null }, cam2: { roi, maxFramePixels: MAX, extras: null } };
  const ins = inspector(inp.slot, (f) => contexts[f.cameraId]!);
  const a = fileFrame('cam1', png);
  const b: Frame = { seq: seq++, cameraId: 'cam2', capturedAt: captureTimeNow(), image: { kind: 'raw', format: 'RGB', width: 160, height: 112, data: big }, meta: {} };
  const [va, vb] = await ins.judge([a, b]);
  assert.equal(va!.verdict, 'reject');
  assert.equal(vb!.verdict, 'reject');
  assert.equal(vb!.score, va!.score, 'the same pixels reach the model');
  assert.ok(va!.defects.length > 0);
  assert.deepEqual(
    vb!.defects.map((d) => ({ ...d, x: d.x - 32, y: d.y - 16 })),
    va!.defects,
    'cam2 defects are cam1 defects moved by the ROI offset',
  );
});

test('the map stage and the judge stage apart give what judge() gives; a frame that cannot be prepared is an error and its batch-mates go on', async () => {
  const ins = inspector(inp.slot, () => ({ roi: undefined, maxFramePixels: MAX, extras: null }));
  const frames = [fileFrame('cam1', await sample(inp.bundle, 'good-0')), fileFrame('cam1', Buffer.from('not an image')), fileFrame('cam1', await sample(inp.bundle, 'defect-0'))];
  const batch = await ins.map(inp.slot, frames);
  assert.deepEqual(batch.mapped, [0, 2]);
  assert.equal(batch.failures[1]?.stage, 'prepare');
  assert.equal(batch.maps?.maps.length, 2 * 64 * 64);
  const staged = ins.verdicts(batch, frames);
  const whole = await ins.judge(frames);
  const strip = (v: { timings: unknown }) => ({ ...v, timings: null });
  assert.deepEqual(staged.map(strip), whole.map(strip));
  assert.deepEqual(whole.map((v) => v.verdict), ['ok', 'error', 'reject']);
  assert.equal(whole[1]!.reasons[0]!.code, 'LW_ERR_FRAME_DECODE');
  assert.equal(whole[1]!.reasons[1]!.code, 'FAILSAFE_REJECT');
});

test('a prompted model: every frame is judged against the prompt of its own product, in one batch', async () => {
  const b = prompted.bundle;
  const m = b.manifest;
  const prompts = new Map<string, PreparedPixels>();
  for (const product of ['a', 'b']) {
    prompts.set(product, await preparePixels(fileFrame('prompt', await sample(b, `prompt-${product}`)), m));
  }
  let served = 0;
  const context: FrameContext = {
    roi: undefined,
    maxFramePixels: MAX,
    extras: async (f: Frame, model: ModelSlot) => {
      assert.equal(model, prompted.slot, 'asked for the model judging the batch');
      served++;
      const p = prompts.get(f.meta['product'] as string);
      if (p === undefined) throw new LinewatchError('LW_ERR_MODEL_NEEDS_UNMET', `frame ${f.seq}: no prompt for product "${String(f.meta['product'])}"`);
      return { prompt: p };
    },
  };
  const ins = inspector(prompted.slot, () => context);
  const frames: Frame[] = [];
  for (const [name, product] of [['good-a', 'a'], ['defect-a', 'a'], ['good-b', 'b'], ['defect-b', 'b'], ['good-b', 'a'], ['good-a', 'c']] as const) {
    frames.push(fileFrame('cam1', await sample(b, name), { partId: `${name}@${product}`, product }));
  }
  const golden = (await readGolden(b.dir)).cases[0]!;
  const want = decode(golden.reference.score).data;
  for (let round = 0; round < 2; round++) {
    // Twice over: the prompts are shared, the engine must not have taken them.
    const v = await ins.judge(frames);
    assert.deepEqual(v.map((x) => x.verdict), ['ok', 'reject', 'ok', 'reject', 'reject', 'error'], `round ${round}`);
    // Through decode, resize and crop, the scores are PyTorch's for the same images and prompts.
    assert.ok(maxAbsDiff(v.slice(0, 5).map((x) => x.score!), want) <= 1e-5);
    assert.equal(v[5]!.reasons[0]!.code, 'LW_ERR_MODEL_NEEDS_UNMET');
    assert.match(v[5]!.reasons[0]!.message, /no prompt for product "c"/);
  }
  assert.equal(served, 12);
});

test('a prompted model on a camera that cannot serve prompts: its frames are errors naming what is missing', async () => {
  const ins = inspector(prompted.slot, () => ({ roi: undefined, maxFramePixels: MAX, extras: null }));
  const [v] = await ins.judge([fileFrame('cam7', await sample(prompted.bundle, 'good-a'))]);
  assert.equal(v!.verdict, 'error');
  assert.equal(v!.reasons[0]!.code, 'LW_ERR_MODEL_NEEDS_UNMET');
  assert.match(v!.reasons[0]!.message, /of cam7: the model \(onenip\) needs a prompt image for each frame.*graph input "prompt"/);
});

test('the station refuses a prompted bundle it cannot give prompts, at start and as a model change, naming the input and the cameras', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lw-inspect-'));
  try {
    const config = (bundle: string) =>
      parseConfig(
        {
          model: { bundle, intraOpThreads: 1 },
          cameras: [
            { id: 'left', source: { type: 'folder', path: join(inp.bundle.dir, 'samples') } },
            { id: 'right', source: { type: 'folder', path: join(inp.bundle.dir, 'samples') } },
          ],
        },
        'test config',
      );
    const refusal = (err: unknown) => {
      assert.ok(err instanceof LinewatchError);
      assert.equal(err.code, 'LW_ERR_MODEL_NEEDS_UNMET');
      assert.match(err.message, new RegExp(`model bundle ${prompted.bundle.dir} \\(onenip\\) needs a prompt image for each frame`));
      assert.match(err.message, /graph input "prompt"/);
      assert.match(err.message, /camera left cannot give one: no product is set for it \(cameras\[\]\.product, a key of products\); camera right cannot give one/);
      return true;
    };
    await assert.rejects(Station.start(config(prompted.bundle.dir), { logger: quiet, deferCameras: true }), refusal);

    const station = await Station.start(config(inp.bundle.dir), { logger: quiet, deferCameras: true });
    try {
      const r = await station.applyConfig({ ...config(prompted.bundle.dir), version: '2' });
      assert.equal(r.ok, false);
      assert.match(r.reasons[0] ?? '', /LW_ERR_MODEL_NEEDS_UNMET|needs a prompt image for each frame/);
      assert.match(r.reasons[0] ?? '', /camera left cannot give one/);
      assert.equal(station.activeManifest().version, inp.bundle.manifest.version, 'the running model stays');
    } finally {
      await station.stop();
    }

  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
