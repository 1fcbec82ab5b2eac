import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Subscription } from 'rxjs';
import { LinewatchError } from '../../../src/errors.js';
import type { Frame, RawImage } from '../../../src/pipeline/frame.js';
import type { LostFrame, SourceHealth } from '../../../src/pipeline/source.js';
import {
  createGstreamerSource,
  gstreamerSourceSchema,
  type GstreamerSource,
  type GstreamerSourceInput,
} from '../../../src/pipeline/sources/gstreamer/index.js';

/** Real GStreamer pipelines (videotestsrc, multifilesrc, filesrc) through the appsink into Node. */

const FAST_RESTART = { initialDelayMs: 20, maxDelayMs: 100, jitter: 0 };

function source(input: Omit<GstreamerSourceInput, 'type'>): GstreamerSource {
  return createGstreamerSource(gstreamerSourceSchema.parse({ type: 'gstreamer', ...input }), 'cam1');
}

interface Collected {
  frames: Frame[];
  health: SourceHealth[];
  error: unknown;
  completed: boolean;
}

/**
 * Subscribes until the stream ends, `stopAfter` frames arrived, or `timeoutMs` passed; `onFrame`
 * runs synchronously for each frame (a slow consumer blocks there).
 */
function collect(
  src: GstreamerSource,
  opts: { stopAfter?: number; timeoutMs?: number; onFrame?: (f: Frame) => void } = {},
): Promise<Collected> {
  const out: Collected = { frames: [], health: [], error: undefined, completed: false };
  return new Promise((resolve) => {
    let sub: Subscription | undefined;
    const hsub = src.health$?.subscribe((h) => out.health.push(h));
    const finish = (): void => {
      clearTimeout(timer);
      sub?.unsubscribe();
      hsub?.unsubscribe();
      resolve(out);
    };
    const timer = setTimeout(finish, opts.timeoutMs ?? 20_000);
    sub = src.frames().subscribe({
      next: (f) => {
        out.frames.push(f);
        opts.onFrame?.(f);
        if (opts.stopAfter !== undefined && out.frames.length >= opts.stopAfter) setImmediate(finish);
      },
      error: (e: unknown) => {
        out.error = e;
        setImmediate(finish);
      },
      complete: () => {
        out.completed = true;
        setImmediate(finish);
      },
    });
  });
}

function raw(f: Frame): RawImage {
  assert.equal(f.image.kind, 'raw');
  return f.image as RawImage;
}

function assertGapFree(frames: readonly Frame[]): void {
  for (let i = 0; i < frames.length; i++) assert.equal(frames[i]!.seq, i, `seq of frame ${i}`);
}

test('videotestsrc: GRAY8 frames of the asked size, seq gap-free, end of stream completes', async () => {
  const src = source({ input: { preset: 'test', width: 64, height: 48, fps: 100, numBuffers: 20, live: false } });
  const got = await collect(src);
  assert.equal(got.error, undefined);
  assert.equal(got.completed, true);
  assert.equal(got.frames.length, 20);
  assertGapFree(got.frames);
  const img = raw(got.frames[0]!);
  assert.deepEqual([img.format, img.width, img.height, img.data.length], ['GRAY8', 64, 48, 64 * 48]);
  assert.equal(got.frames[0]!.cameraId, 'cam1');
  assert.equal(src.lostFrames(), 0);
  assert.deepEqual(
    got.health.map((h) => h.state),
    ['starting', 'running', 'ended'],
  );
});

test('RGB conversion in GStreamer, odd width: rows padded to 4 bytes and the stride says so', async () => {
  const src = source({ format: 'RGB', input: { preset: 'test', pattern: 'red', width: 65, height: 31, numBuffers: 2, live: false } });
  const got = await collect(src);
  assert.equal(got.frames.length, 2);
  const img = raw(got.frames[0]!);
  assert.equal(img.format, 'RGB');
  assert.equal(img.strideBytes, 196); // 65 × 3 = 195 → 196
  assert.equal(img.data.length, 196 * 31);
  // pattern=red: the first pixel of the second row is pure red, found at the stride, not at 195.
  assert.deepEqual([...img.data.subarray(196, 199)], [255, 0, 0]);
});

test('scaling to the model size happens in GStreamer', async () => {
  const src = source({ width: 32, height: 16, input: { preset: 'test', width: 320, height: 240, numBuffers: 1, live: false } });
  const got = await collect(src);
  const img = raw(got.frames[0]!);
  assert.deepEqual([img.width, img.height], [32, 16]);
});

test('a slow consumer never stalls a live camera: each frame the appsink drops comes as a lost frame with its seq, ahead of the frame after it', async () => {
  const src = source({
    maxBuffers: 2,
    input: { preset: 'test', width: 64, height: 48, fps: 200, numBuffers: 60, live: true },
  });
  const lost: LostFrame[] = [];
  const order: number[] = [];
  let framesSeen = 0;
  const framesAtLoss: number[] = [];
  const lsub = src.losses$.subscribe((l) => {
    lost.push(l);
    order.push(l.seq);
    framesAtLoss.push(framesSeen);
  });
  const got = await collect(src, {
    onFrame: (f) => {
      order.push(f.seq);
      framesSeen++;
      const until = Date.now() + 20; // 50 frames/s consumer behind a 200 frames/s camera
      while (Date.now() < until);
    },
  });
  lsub.unsubscribe();
  assert.equal(got.completed, true);
  assert.ok(lost.length > 10, `lost ${lost.length}`);
  assert.equal(lost.length, src.lostFrames());
  // Every frame the camera took has one seq, delivered or lost, and they came in seq order.
  assert.equal(got.frames.length + lost.length, 60);
  assert.deepEqual(order, [...Array(60).keys()]);
  assert.ok(framesAtLoss.some((n) => n < got.frames.length), 'losses were reported while the camera ran, not only at its end');
  for (const l of lost) {
    assert.equal(l.reason, 'appsink-overflow');
    assert.equal(l.kind, 'lost');
    assert.equal(l.cameraId, 'cam1');
    assert.equal(l.meta['lost'], 'appsink-overflow');
  }
  // videotestsrc numbers its frames: every delivered frame carries its own number, which is its seq here.
  for (const f of got.frames) assert.equal(f.meta['sourceOffset'], f.seq);
  // A lost frame's capture time lies between those of its neighbours.
  for (const l of lost) {
    const before = got.frames.filter((f) => f.seq < l.seq).at(-1);
    const next = got.frames.find((f) => f.seq > l.seq);
    if (before !== undefined) assert.ok(l.capturedAt.monoNs >= before.capturedAt.monoNs, `seq ${l.seq}`);
    if (next !== undefined) assert.ok(l.capturedAt.monoNs <= next.capturedAt.monoNs, `seq ${l.seq}`);
  }
  assert.deepEqual(src.lossVisibility(), { dropped: 'per-frame', upstream: 'offsets' });
});

test('a finite input is read losslessly at the pace of a slow consumer', async () => {
  const src = source({ maxBuffers: 1, input: { preset: 'test', width: 64, height: 48, numBuffers: 15, live: false } });
  const got = await collect(src, {
    onFrame: () => {
      const until = Date.now() + 10;
      while (Date.now() < until);
    },
  });
  assert.equal(got.frames.length, 15);
  assert.equal(src.lostFrames(), 0);
});

test('a pipeline GStreamer cannot parse is refused at start with its own message', () => {
  assert.throws(
    () => source({ format: 'native', input: { preset: 'launch', pipeline: 'videotestsrc ! nosuchelement ! appsink name=sink' } }),
    (err: unknown) =>
      err instanceof LinewatchError && err.code === 'LW_ERR_SOURCE_PIPELINE' && err.message.includes('no element "nosuchelement"'),
  );
  assert.throws(
    () => source({ format: 'native', input: { preset: 'launch', pipeline: 'videotestsrc ! fakesink name=sink' } }),
    (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_SOURCE_PIPELINE' && /no appsink named "sink"/.test(err.message),
  );
});

test('raw launch description: format and bounds applied at its appsink', async () => {
  const src = source({
    format: 'RGB',
    input: { preset: 'launch', live: false, pipeline: 'videotestsrc num-buffers=3 ! video/x-raw,width=40,height=20 ! videoconvert ! appsink name=out', sinkName: 'out' },
  });
  const got = await collect(src);
  assert.equal(got.frames.length, 3);
  assert.equal(got.completed, true);
  assert.equal(raw(got.frames[0]!).format, 'RGB');
});

test('a live stream that ends is restarted with backoff: degraded, then running, seq and counters continue', async () => {
  const src = source({
    restart: FAST_RESTART,
    // Room for a whole run (5 buffers): a loaded machine must not turn a slow pull into an
    // appsink drop, which takes a seq of its own and is another test's subject.
    maxBuffers: 8,
    input: {
      preset: 'launch',
      live: true,
      pipeline: 'videotestsrc is-live=true num-buffers=5 ! video/x-raw,width=32,height=32,framerate=100/1 ! videoconvert ! appsink name=sink',
    },
  });
  const got = await collect(src, { stopAfter: 13 });
  assert.equal(got.error, undefined);
  assert.equal(got.frames.length, 13);
  assertGapFree(got.frames);
  const states = got.health.map((h) => h.state);
  assert.deepEqual(states.slice(0, 4), ['starting', 'running', 'degraded', 'running']);
  const degraded = got.health.find((h) => h.state === 'degraded');
  assert.ok(degraded?.state === 'degraded' && /end of stream/.test(degraded.reason), JSON.stringify(degraded));
  assert.equal(degraded.retryInMs, 20);
});

test('a camera that goes silent is detected by the stall watchdog and reported degraded', async () => {
  const src = source({
    stallTimeoutMs: 200,
    // No restart within the collection below: its one frame stays the only one.
    restart: { initialDelayMs: 60_000, maxDelayMs: 60_000, jitter: 0 },
    input: {
      preset: 'launch',
      pipeline: 'videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=1/20 ! videoconvert ! appsink name=sink',
    },
  });
  // 1 s sufficed on a quiet machine; a loaded one may take most of that to start the pipeline.
  // The next frame of this camera is 20 s away, the restart 60 s: still exactly one frame.
  const got = await collect(src, { timeoutMs: 4_000 });
  assert.equal(got.frames.length, 1);
  const degraded = got.health.find((h) => h.state === 'degraded');
  assert.ok(degraded?.state === 'degraded' && /no frame for \d+ ms/.test(degraded.reason), JSON.stringify(got.health));
});

test('a stream error mid-stream: degraded with GStreamer\'s message, restarted with backoff, frames resume, seq continues', async () => {
  const src = source({
    restart: FAST_RESTART,
    // Room for a whole run (4 buffers before the error), as in the end-of-stream test above: on a
    // loaded machine a slow pull must not become an appsink drop, which takes a seq of its own.
    maxBuffers: 8,
    input: {
      preset: 'launch',
      pipeline:
        'videotestsrc is-live=true ! video/x-raw,width=32,height=32,framerate=100/1 ! identity error-after=4 ! videoconvert ! appsink name=sink',
    },
  });
  const got = await collect(src, { stopAfter: 9 });
  assert.equal(got.error, undefined);
  assertGapFree(got.frames);
  const states = got.health.map((h) => h.state);
  assert.deepEqual(states.slice(0, 4), ['starting', 'running', 'degraded', 'running']);
  const degraded = got.health.find((h) => h.state === 'degraded');
  assert.ok(degraded?.state === 'degraded' && /GStreamer error.*identity/.test(degraded.reason), JSON.stringify(degraded));
});

test('multifilesrc over numbered PNG files: frames in file order, decoded in GStreamer, then complete', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-gst-images-'));
  try {
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `img_${String(i).padStart(3, '0')}.png`);
      await sharp(Buffer.alloc(16 * 8, i * 10), { raw: { width: 16, height: 8, channels: 1 } }).png().toFile(path);
    }
    const src = source({ input: { preset: 'images', location: join(dir, 'img_%03d.png'), startIndex: 1 } });
    const got = await collect(src);
    assert.equal(got.error, undefined);
    assert.equal(got.completed, true);
    assertGapFree(got.frames);
    assert.deepEqual(
      got.frames.map((f) => raw(f).data[0]),
      [10, 20, 30, 40],
    );
    assert.equal(src.lostFrames(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('video file: frames to the end, then complete; a missing file ends the stream with LW_ERR_SOURCE_STREAM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-gst-video-'));
  try {
    const file = join(dir, 'clip.avi');
    execFileSync('gst-launch-1.0', [
      '-q', 'videotestsrc', 'num-buffers=12', '!', 'video/x-raw,width=48,height=32,framerate=25/1', '!', 'jpegenc', '!', 'avimux', '!', 'filesink', `location=${file}`,
    ]);
    const got = await collect(source({ input: { preset: 'video', path: file } }));
    assert.equal(got.completed, true);
    assert.equal(got.frames.length, 12);
    assert.deepEqual([raw(got.frames[0]!).width, raw(got.frames[0]!).height], [48, 32]);

    const missing = await collect(source({ input: { preset: 'video', path: join(dir, 'nope.avi') } }));
    assert.ok(missing.error instanceof LinewatchError, String(missing.error));
    assert.equal(missing.error.code, 'LW_ERR_SOURCE_STREAM');
    assert.match(missing.error.message, /not found|No such file/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
