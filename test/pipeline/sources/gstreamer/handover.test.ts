import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Frame } from '../../../../src/pipeline/frame.js';
import { gstreamer, type GstAppSrc, type HeldFrames } from '../../../../src/pipeline/sources/gstreamer/binding.js';
import { createGstreamerSource, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';

/**
 * How a pulled frame reaches Node (binding patch 3, docs/cameras.md): GStreamer's own buffer,
 * kept referenced and mapped until GC collects the Node Buffer (a pool that grows on demand:
 * videotestsrc, videoconvert), or one copy made on the pull's pool thread into a reused block (any
 * other buffer: appsrc's here, a camera driver's in the field). What a user would notice if either
 * went wrong: a held frame whose bytes change after the pipeline moved on or stopped, two held
 * frames sharing memory, or memory that grows with every frame. Real GStreamer; no timing.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function held(): HeldFrames {
  const h = gstreamer().linewatchHeld;
  assert.ok(h !== undefined, 'the binding has patch 3 (linewatchHeld)');
  return h();
}

/** A full GC, then the turns of the event loop on which Node runs the Buffers' free callbacks. */
async function collect(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Plays `description` and keeps every sample of its appsink `sink` until end of stream or `count` came (`feed` pushes into appsrc `src`). */
async function pullAll(description: string, count = Infinity, feed?: (src: GstAppSrc) => void): Promise<{ frames: Buffer[]; stop: () => void }> {
  const pipeline = new (gstreamer().Pipeline)(description);
  const sink = pipeline.findChild('sink')!;
  pipeline.play();
  if (feed !== undefined) feed(pipeline.findChild('src') as unknown as GstAppSrc);
  const frames: Buffer[] = [];
  await new Promise<void>((resolve) => {
    const next = (): void =>
      sink.pull((buf) => {
        if (buf !== null) frames.push(buf);
        if (buf === null || frames.length === count) resolve();
        else next();
      });
    next();
  });
  return { frames, stop: () => pipeline.stop() };
}

/** The frames `head` produces, as gst-launch writes them to a file (the reference), one hash each. */
function referenceHashes(head: string, frameBytes: number): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'lw-handover-'));
  try {
    const file = join(dir, 'frames.raw');
    execFileSync('gst-launch-1.0', ['-q', ...`${head} ! filesink location=${file}`.split(' ')]);
    const all = readFileSync(file);
    assert.equal(all.length % frameBytes, 0, 'the reference holds whole frames');
    const out: string[] = [];
    for (let o = 0; o < all.length; o += frameBytes) out.push(sha(all.subarray(o, o + frameBytes)));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A pattern that moves 5 px a frame: 40 frames, all different.
const W = 320;
const H = 240;
const MOVING = `videotestsrc pattern=smpte horizontal-speed=5 num-buffers=40 ! video/x-raw,format=RGB,width=${W},height=${H},framerate=30/1`;

test('wrapped frames (videotestsrc pool): all held at once, each equal to what gst-launch wrote, distinct, still intact after the pipeline stopped and after GC freed others', async () => {
  const ref = referenceHashes(MOVING, W * H * 3);
  assert.equal(new Set(ref).size, ref.length, 'the reference frames differ from each other');
  const before = held();
  // max-buffers=2: the source runs ahead and refills its pool while Node holds every frame.
  const { frames, stop } = await pullAll(`${MOVING} ! appsink name=sink max-buffers=2 drop=false sync=false`);
  assert.equal(held().wrapped - before.wrapped, frames.length, 'every frame was handed over without a copy');
  assert.deepEqual(frames.map(sha), ref, 'bytes as produced, after the pipeline moved on to the end of the stream');
  stop();
  assert.deepEqual(frames.map(sha), ref, 'bytes as produced after the pipeline stopped (its pool deactivated)');
  assert.ok(held().frames >= frames.length, 'the binding counts the frames Node holds');

  // Let go of every other frame: GC frees them (their buffers go back), the rest stay as they were.
  const kept = frames.filter((_, i) => i % 2 === 0);
  const keptRef = ref.filter((_, i) => i % 2 === 0);
  const heldBefore = held().frames;
  frames.length = 0;
  await collect();
  assert.ok(held().frames <= heldBefore - 20, `GC released the dropped frames (${heldBefore} → ${held().frames} held)`);
  // A second run of the same pipeline, whose buffers may reuse the freed ones.
  const again = await pullAll(`${MOVING} ! appsink name=sink max-buffers=2 drop=false sync=false`);
  again.stop();
  assert.deepEqual(again.frames.map(sha), ref);
  assert.deepEqual(kept.map(sha), keptRef, 'frames still held are untouched by a later run');
});

test('wrapped frames held across a restart of the same pipeline (as the source restarts a camera) keep their bytes', async () => {
  const ref = referenceHashes(MOVING, W * H * 3);
  const pipeline = new (gstreamer().Pipeline)(`${MOVING} ! appsink name=sink max-buffers=2 drop=false sync=false`);
  const sink = pipeline.findChild('sink')!;
  const run = async (): Promise<Buffer[]> => {
    pipeline.play();
    const frames: Buffer[] = [];
    await new Promise<void>((resolve) => {
      const next = (): void =>
        sink.pull((buf) => {
          if (buf === null) return resolve();
          frames.push(buf);
          next();
        });
      next();
    });
    pipeline.stop();
    return frames;
  };
  const first = await run();
  assert.deepEqual(first.map(sha), ref);
  // videotestsrc keeps its pattern's offset across a stop, so the second run's frames are not the
  // first's again: what matters is that the first run's, still held, are untouched by them.
  const second = await run();
  assert.equal(second.length, ref.length);
  assert.deepEqual(first.map(sha), ref, "the first run's frames, held through the restart, are unchanged");
});

test('copied frames (appsrc buffers): known bytes intact after stop, and a reused block never overwrites a frame Node still holds', async () => {
  const size = 640 * 480;
  const caps = `video/x-raw,format=GRAY8,width=640,height=480,framerate=30/1`;
  const make = (n: number, salt: number): Buffer[] =>
    Array.from({ length: n }, (_, k) => {
      const b = Buffer.alloc(size);
      let x = (k + 1) * 2654435761 + salt;
      for (let i = 0; i < size; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        b[i] = x >>> 24;
      }
      return b;
    });
  const run = async (pushed: Buffer[]): Promise<Buffer[]> => {
    const before = held();
    const { frames, stop } = await pullAll(`appsrc name=src caps=${caps} format=time ! appsink name=sink sync=false`, pushed.length, (src) => {
      for (const b of pushed) src.push(b);
    });
    stop();
    assert.equal(held().copied - before.copied, frames.length, 'appsrc buffers are copied (they come from no pool)');
    return frames;
  };
  const first = make(12, 1);
  const got = await run(first);
  assert.equal(got.length, first.length);
  for (let i = 0; i < got.length; i++) assert.ok(got[i]!.equals(first[i]!), `frame ${i} as pushed`);

  // Drop half: their blocks go to the spare list, and the next run's copies land in them.
  const kept = got.filter((_, i) => i % 2 === 1);
  const keptWant = first.filter((_, i) => i % 2 === 1);
  got.length = 0;
  await collect();
  const second = make(12, 2);
  const got2 = await run(second);
  for (let i = 0; i < got2.length; i++) assert.ok(got2[i]!.equals(second[i]!), `second run, frame ${i} as pushed`);
  for (let i = 0; i < kept.length; i++) assert.ok(kept[i]!.equals(keptWant[i]!), `first run's frame ${2 * i + 1}, still held, unchanged`);
});

test('through the gstreamer source: every Frame holds the bytes the pipeline produced, after the source completed', async () => {
  const ref = referenceHashes(`${MOVING} ! videoconvert ! video/x-raw,format=RGB`, W * H * 3);
  const source = createGstreamerSource(
    gstreamerSourceSchema.parse({ type: 'gstreamer', format: 'RGB', input: { preset: 'launch', live: false, pipeline: `${MOVING} ! videoconvert ! appsink name=sink` } }),
    'cam1',
  );
  const frames: Frame[] = [];
  await new Promise<void>((resolve, reject) => source.frames().subscribe({ next: (f) => frames.push(f), error: reject, complete: resolve }));
  assert.deepEqual(
    frames.map((f) => (f.image.kind === 'raw' ? sha(f.image.data) : 'not raw')),
    ref,
  );
});

/** Pulls `count` frames of `description` (appsink `sink`), letting each go, the held count sampled as it goes. */
async function stream(description: string, count: number, feed?: (src: GstAppSrc, i: number) => void): Promise<{ maxHeld: number; maxRss: number; got: number }> {
  const pipeline = new (gstreamer().Pipeline)(description);
  const sink = pipeline.findChild('sink')!;
  const src = pipeline.findChild('src') as unknown as GstAppSrc | undefined;
  pipeline.play();
  let got = 0;
  let maxHeld = 0;
  let maxRss = 0;
  let sum = 0;
  if (feed !== undefined) feed(src!, 0);
  await new Promise<void>((resolve) => {
    const next = (): void =>
      sink.pull((buf) => {
        if (buf === null) return resolve();
        sum += buf[buf.length - 1]!; // read it, as a consumer would
        got++;
        if (got % 50 === 0) {
          maxHeld = Math.max(maxHeld, held().frames);
          maxRss = Math.max(maxRss, process.memoryUsage().rss);
        }
        if (got === count) return resolve();
        if (feed !== undefined) feed(src!, got);
        next();
      });
    next();
  });
  pipeline.stop();
  assert.ok(sum >= 0);
  return { maxHeld, maxRss, got };
}

const MiB = 2 ** 20;

test('memory stays bounded over 3000 wrapped 5 MP frames and 1000 copied ones: GC keeps pace, and frees them all once let go', async (t) => {
  await collect();
  const base = held().frames;
  const rss0 = process.memoryUsage().rss;
  const wrapped = await stream(
    'videotestsrc pattern=black num-buffers=3000 ! video/x-raw,format=GRAY8,width=2592,height=1944,framerate=1000/1 ! appsink name=sink max-buffers=2 drop=false sync=false',
    3000,
  );
  assert.equal(wrapped.got, 3000);
  t.diagnostic(`wrapped: at most ${wrapped.maxHeld - base} frames held, resident +${((wrapped.maxRss - rss0) / MiB).toFixed(0)} MiB`);
  // 5 MB each: V8 counts them as external memory and collects every few tens of MB.
  assert.ok(wrapped.maxHeld - base <= 64, `at most 64 frames alive at once (saw ${wrapped.maxHeld - base})`);
  assert.ok(wrapped.maxRss - rss0 < 600 * MiB, `resident memory grew ${((wrapped.maxRss - rss0) / MiB).toFixed(0)} MiB`);

  const frame = Buffer.alloc(2592 * 1944, 7);
  const copied = await stream(
    'appsrc name=src caps=video/x-raw,format=GRAY8,width=2592,height=1944,framerate=30/1 format=time ! appsink name=sink sync=false',
    1000,
    (src) => src.push(frame),
  );
  assert.equal(copied.got, 1000);
  t.diagnostic(`copied: at most ${copied.maxHeld - base} frames held, resident +${((copied.maxRss - rss0) / MiB).toFixed(0)} MiB`);
  assert.ok(copied.maxHeld - base <= 64, `at most 64 copied frames alive at once (saw ${copied.maxHeld - base})`);
  assert.ok(copied.maxRss - rss0 < 600 * MiB, `resident memory grew ${((copied.maxRss - rss0) / MiB).toFixed(0)} MiB`);

  await collect();
  assert.ok(held().frames - base <= 2, `all let go: ${held().frames - base} frames still held after GC`);
});
