/**
 * The Jetson plans for every camera format the presets accept, negotiated in real GStreamer (parsed
 * and played by gstreamer-superficial, as linewatch runs them) with nvvidconv replaced by a stand-in
 * that takes and gives exactly the system-memory formats its published pad templates list (no board
 * here). The cameras are replaced by videotestsrc producing the same caps. What reaches the appsink
 * must be the asked format and size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gstreamer, type SampleCaps } from '../../../../src/pipeline/sources/gstreamer/binding.js';
import { planGstElements } from '../../../../src/pipeline/sources/gstreamer/jetson.js';
import { buildLaunch, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';
import { nvvidconvStandIn } from './helpers/nvvidconv.js';

// nvjpegdec cannot run here; the Jetson plan without it decodes JPEG with jpegdec (system memory).
const JETSON = planGstElements(new Set(['nvvidconv', 'nvv4l2decoder']));
const STAND_IN = nvvidconvStandIn();

/** Parses, plays and pulls the first frame from the appsink named `s`, as the source does. */
async function gst(description: string): Promise<{ ok: boolean; caps: SampleCaps | null; out: string }> {
  let pipeline;
  try {
    pipeline = new (gstreamer().Pipeline)(description);
  } catch (err) {
    return { ok: false, caps: null, out: String(err) };
  }
  const sink = pipeline.findChild('s');
  assert.ok(sink, `no appsink named s in ${description}`);
  pipeline.play();
  const frame = await new Promise<{ buf: Buffer | null; caps: SampleCaps }>((resolve) => sink.pull((buf, caps) => resolve({ buf, caps })));
  pipeline.stop();
  return { ok: frame.buf !== null, caps: frame.buf === null ? null : frame.caps, out: description };
}

/** The preset's description with the camera swapped for `source` and nvvidconv for the stand-in. */
function runnable(input: unknown, format: 'GRAY8' | 'RGB', source: string | null): string {
  const config = gstreamerSourceSchema.parse({ type: 'gstreamer', format, width: 64, height: 48, input });
  const d = buildLaunch(config, { elements: JETSON }).description;
  assert.equal(d.split('nvvidconv interpolation-method=1').length, 2, `one bilinear nvvidconv in ${d}`);
  const body = d.slice(0, d.indexOf(' ! appsink')).replace('nvvidconv interpolation-method=1', STAND_IN);
  const rest = source === null ? body : `${source}${body.slice(body.indexOf(' ! '))}`;
  return `${rest} ! appsink name=s max-buffers=1 sync=false`;
}

const frames = 'videotestsrc num-buffers=3 pattern=ball';
const cases: { name: string; input: unknown; source: string | null }[] = [
  { name: 'aravis Mono8', input: { preset: 'aravis', pixelFormat: 'Mono8' }, source: frames },
  { name: 'aravis RGB8', input: { preset: 'aravis', pixelFormat: 'RGB8' }, source: frames },
  ...(['BayerRG8', 'BayerBG8', 'BayerGR8', 'BayerGB8'] as const).map((pixelFormat) => ({
    name: `aravis ${pixelFormat}`,
    input: { preset: 'aravis', pixelFormat },
    source: `${frames} ! videoconvert ! rgb2bayer`,
  })),
  ...['YUY2', 'UYVY', 'NV12', 'I420', 'GRAY8', 'RGB', 'BGR', 'GRAY16_LE'].map((f) => ({
    name: `v4l2 ${f}`,
    input: { preset: 'v4l2' },
    // an element, not bare caps: the description's own caps filter follows, and caps cannot follow caps
    source: `${frames} ! capsfilter caps=video/x-raw,format=${f}`,
  })),
  { name: 'v4l2 MJPEG', input: { preset: 'v4l2', mjpeg: true }, source: `${frames} ! jpegenc` },
  { name: 'test pattern', input: { preset: 'test', numBuffers: 3, live: false }, source: null },
];

test('every camera format the presets accept negotiates through nvvidconv as published, to GRAY8 and RGB at the asked size', async () => {
  for (const c of cases) {
    for (const format of ['GRAY8', 'RGB'] as const) {
      const r = await gst(runnable(c.input, format, c.source));
      assert.ok(r.ok, `${c.name} → ${format}: no frame from\n${r.out}`);
      assert.deepEqual([r.caps?.format, r.caps?.width, r.caps?.height], [format, 64, 48], `${c.name} → ${format}`);
    }
  }
});

test('image files (PNG in RGB, RGBA and grey; JPEG) negotiate the same way', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lw-jetson-img-'));
  try {
    for (const [name, caps, enc] of [['rgb', 'RGB', 'pngenc'], ['rgba', 'RGBA', 'pngenc'], ['grey', 'GRAY8', 'pngenc'], ['jpeg', 'I420', 'jpegenc']] as const) {
      const ext = enc === 'pngenc' ? 'png' : 'jpg';
      const make = spawnSync('gst-launch-1.0', ['-q', 'videotestsrc', 'num-buffers=2', '!', `video/x-raw,format=${caps},width=80,height=60`, '!', enc, '!', 'multifilesink', `location=${join(dir, `${name}_%05d.${ext}`)}`]);
      assert.equal(make.status, 0, String(make.stderr));
      const r = await gst(runnable({ preset: 'images', location: join(dir, `${name}_%05d.${ext}`) }, 'RGB', null));
      assert.ok(r.ok, `${name}: no frame from\n${r.out}`);
      assert.deepEqual([r.caps?.format, r.caps?.width, r.caps?.height], ['RGB', 64, 48], name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the stand-in refuses what nvvidconv refuses: the old plan (RGB8 straight into nvvidconv) fails here', async () => {
  const old = await gst(`${frames} ! video/x-raw,format=RGB ! ${STAND_IN} ! video/x-raw,format=GRAY8,width=64,height=48 ! appsink name=s`);
  assert.equal(old.ok, false);
  assert.match(old.out, /could not link|not-negotiated|can't handle caps/);
  const bayer = await gst(`${frames} ! videoconvert ! rgb2bayer ! video/x-bayer,format=rggb ! ${STAND_IN} ! appsink name=s`);
  assert.equal(bayer.ok, false, 'Bayer must be demosaiced before nvvidconv');
  const good = await gst(`${frames} ! video/x-raw,format=GRAY8 ! ${STAND_IN} ! video/x-raw,format=GRAY8,width=64,height=48 ! appsink name=s`);
  assert.equal(good.ok, true, 'and lets through what nvvidconv takes');
});
