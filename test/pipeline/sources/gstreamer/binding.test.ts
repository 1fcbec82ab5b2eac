import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import {
  BINDING_PATCH_VERSION,
  BUFFER_FLAG_DISCONT,
  gstreamer,
  type GstAppSrc,
  type GstPipeline,
  type SampleMeta,
} from '../../../../src/pipeline/sources/gstreamer/binding.js';

const BINDING_MODULE = new URL('../../../../src/pipeline/sources/gstreamer/binding.js', import.meta.url).href;

/**
 * linewatch's patch of gstreamer-superficial (patches/, applied and rebuilt by `npm ci`): each
 * pulled sample comes with its buffer's timing, offsets, flags and arrival number, and appsrc can
 * set them; its pipeline properties reach GStreamer and its bus poll ends once the pipeline is
 * stopped, on every Node line. Real GStreamer; an unpatched build fails here (gstreamer() refuses it).
 */

interface Pulled {
  readonly size: number;
  readonly meta: SampleMeta;
}

/** Plays `description` and pulls `n` samples from its appsink `sink` (`feed` pushes into an appsrc `src` first). */
function pull(description: string, n: number, feed?: (src: GstAppSrc) => void): Promise<Pulled[]> {
  const pipeline = new (gstreamer().Pipeline)(description);
  const sink = pipeline.findChild('sink')!;
  pipeline.play();
  if (feed !== undefined) feed(pipeline.findChild('src') as unknown as GstAppSrc);
  const out: Pulled[] = [];
  return new Promise((resolve, reject) => {
    const next = (): void =>
      sink.pull((buf, _caps, meta) => {
        if (buf === null || meta === null) {
          pipeline.stop();
          reject(new Error(`stream ended after ${out.length} samples`));
          return;
        }
        out.push({ size: buf.length, meta });
        if (out.length < n) next();
        else {
          pipeline.stop();
          resolve(out);
        }
      });
    next();
  });
}

test('the binding carries linewatch patch version it is read with', () => {
  assert.equal(gstreamer().linewatchPatch, BINDING_PATCH_VERSION);
});

test('the patch changes the addon\'s sources only: no build output, which no fresh install could apply', () => {
  const patch = readFileSync(new URL('../../../../../patches/gstreamer-superficial+1.7.4.patch', import.meta.url), 'utf8');
  const files = [...patch.matchAll(/^diff --git a\/node_modules\/gstreamer-superficial\/(\S+)/gm)].map((m) => m[1]!);
  assert.ok(files.length > 0, 'the patch names its files');
  assert.deepEqual(files.filter((f) => !/^[A-Za-z]+\.(cpp|h)$/.test(f)), [], 'only top-level .cpp and .h files');
});

test('videotestsrc with do-timestamp: PTS, duration, offsets, DISCONT on the first buffer, arrival numbers and a clock reading arrive with each sample', async () => {
  const got = await pull(
    'videotestsrc is-live=true do-timestamp=true num-buffers=6 ! video/x-raw,width=32,height=24,framerate=50/1 ! appsink name=sink sync=false',
    6,
  );
  for (let i = 0; i < got.length; i++) {
    const m = got[i]!.meta;
    assert.equal(m.offset, i, 'videotestsrc numbers its frames');
    assert.equal(m.offsetEnd, i + 1);
    assert.equal(m.arrival, i + 1, 'the appsink numbered each buffer as it arrived');
    assert.equal(typeof m.pts, 'bigint');
    assert.equal(typeof m.runningTime, 'bigint');
    assert.equal(typeof m.baseTime, 'bigint');
    assert.equal(typeof m.clockTime, 'bigint');
    assert.equal(typeof m.hostMonoTime, 'bigint');
    assert.equal(typeof m.hostRealTime, 'bigint');
    assert.equal(typeof m.dts, 'bigint', 'do-timestamp stamps the decoding time too');
    assert.deepEqual(m.references, []);
    // Taken before it was handed over: running + base is earlier than the clock reading beside it.
    assert.ok(m.runningTime! + m.baseTime! <= m.clockTime!, `sample ${i}`);
    if (i > 0) assert.ok(m.pts! > got[i - 1]!.meta.pts!, 'timestamps grow');
  }
  assert.notEqual(got[0]!.meta.flags & BUFFER_FLAG_DISCONT, 0, 'the first buffer of a stream is a discontinuity');
  assert.equal(got[1]!.meta.flags & BUFFER_FLAG_DISCONT, 0);
  // The host monotonic clock is the one process.hrtime reads: within a second of now.
  const mono = got.at(-1)!.meta.hostMonoTime!;
  assert.ok(process.hrtime.bigint() - mono < 1_000_000_000n);
});

test('appsrc: offsets, times and flags pushed with a buffer reach the appsink unchanged', async () => {
  const sent = [
    { offset: 0, pts: 0n, flags: BUFFER_FLAG_DISCONT },
    { offset: 1, pts: 40_000_000n, flags: 0 },
    { offset: 4, pts: 160_000_000n, flags: BUFFER_FLAG_DISCONT },
  ];
  const got = await pull(
    'appsrc name=src format=time caps=video/x-raw,format=GRAY8,width=4,height=2,framerate=25/1 ! appsink name=sink sync=false',
    sent.length,
    (src) => {
      for (const s of sent) src.push(Buffer.alloc(8, s.offset), undefined, { ...s, offsetEnd: s.offset + 1, duration: 40_000_000n, dts: s.pts });
    },
  );
  assert.deepEqual(
    got.map((g) => [g.size, g.meta.offset, g.meta.offsetEnd, g.meta.pts, g.meta.dts, g.meta.duration, g.meta.flags & BUFFER_FLAG_DISCONT, g.meta.arrival]),
    [
      [8, 0, 1, 0n, 0n, 40_000_000n, BUFFER_FLAG_DISCONT, 1],
      [8, 1, 2, 40_000_000n, 40_000_000n, 40_000_000n, 0, 2],
      [8, 4, 5, 160_000_000n, 160_000_000n, 40_000_000n, BUFFER_FLAG_DISCONT, 3],
    ],
  );
});

test('an appsink that drops: the arrival numbers of the samples it hands over jump by the buffers it dropped', async () => {
  const pipeline = new (gstreamer().Pipeline)(
    'videotestsrc is-live=false num-buffers=40 ! video/x-raw,width=16,height=16,framerate=1000/1 ! appsink name=sink sync=false max-buffers=1 drop=true',
  );
  const sink = pipeline.findChild('sink')!;
  pipeline.play();
  const got: SampleMeta[] = [];
  await new Promise<void>((resolve) => {
    const next = (): void =>
      sink.pull((buf, _caps, meta) => {
        if (buf === null || meta === null) return resolve();
        got.push(meta);
        const until = Date.now() + 5; // slower than the source: the appsink drops
        while (Date.now() < until);
        next();
      });
    next();
  });
  pipeline.stop();
  assert.equal(sink.arrivals(), 40, 'every buffer reached the appsink and was numbered');
  assert.ok(got.length < 40, `${got.length} delivered`);
  for (const m of got) assert.equal(m.arrival, m.offset! + 1, 'arrival numbers follow the source frames one to one');
});

/** Plays `pipeline` until its appsink `sink` hands over a first sample (the pipeline is PLAYING then). */
function firstSample(pipeline: GstPipeline): Promise<void> {
  const sink = pipeline.findChild('sink')!;
  pipeline.play();
  return new Promise((resolve, reject) => sink.pull((buf) => (buf === null ? reject(new Error('no sample')) : resolve())));
}

// The timeout bounds a hang (patch 1 on Node 24 waited for ever here), it measures nothing.
test("auto-flush-bus false reaches GStreamer on this Node: a stop's messages stay on the bus, down to the pipeline's READY→NULL", { timeout: 60_000 }, async () => {
  const pipeline = new (gstreamer().Pipeline)('videotestsrc ! video/x-raw,width=8,height=8 ! appsink name=sink sync=false');
  pipeline['auto-flush-bus'] = false;
  await firstSample(pipeline);
  pipeline.stop();
  // Polled after the stop: each poll of a stopped pipeline hands over one message and ends, so the
  // callback asks again. Were the bus flushed at NULL (Node 24 with patch 1: the assignment never
  // reached GStreamer), there would be nothing to read.
  const seen: string[] = [];
  await new Promise<void>((resolve) => {
    const poll = (): void =>
      pipeline.pollBus((msg) => {
        if (msg.type === 'state-changed' && /^pipeline\d+$/.test(msg._src_element_name ?? '')) {
          seen.push(`${String(msg['old-state'])}→${String(msg['new-state'])}`);
          if (msg['new-state'] === 'GST_STATE_NULL') return resolve();
        }
        poll();
      });
    poll();
  });
  assert.deepEqual(seen.slice(-3), ['GST_STATE_PLAYING→GST_STATE_PAUSED', 'GST_STATE_PAUSED→GST_STATE_READY', 'GST_STATE_READY→GST_STATE_NULL']);
});

test('a bus poll on a stopped pipeline whose bus was flushed ends by itself: the process exits (it waited for ever with patch 1)', async () => {
  // In a child: a poll left waiting holds a libuv pool thread and keeps its process alive, which
  // only the process's end shows. The bus is flushed at NULL (GStreamer's default) before the poll
  // starts, so nothing will ever be posted to wake it: only the pipeline's state can end it.
  const script = `
    const { gstreamer } = await import(${JSON.stringify(BINDING_MODULE)});
    const pipeline = new (gstreamer().Pipeline)('videotestsrc ! video/x-raw,width=8,height=8 ! appsink name=sink sync=false');
    const sink = pipeline.findChild('sink');
    pipeline.play();
    await new Promise((resolve) => sink.pull(resolve));
    pipeline.stop();
    let messages = 0;
    pipeline.pollBus(() => messages++);
    process.on('exit', () => process.stdout.write('exited after ' + messages + ' messages'));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
  assert.equal(stdout, 'exited after 0 messages');
});
