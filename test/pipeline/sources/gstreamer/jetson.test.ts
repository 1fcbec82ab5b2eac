import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  convertFragment,
  decodeFragment,
  GST_PROBE_ELEMENTS,
  localElementPlan,
  planGstElements,
  probeGstElements,
} from '../../../../src/pipeline/sources/gstreamer/jetson.js';
import { buildLaunch, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';

const JETSON = planGstElements(new Set(['nvvidconv', 'nvv4l2decoder', 'nvjpegdec', 'videoconvert']));

test('a Jetson (nvvidconv + nvv4l2decoder) gets hardware decode and VIC convert/scale', () => {
  assert.deepEqual(JETSON, { acceleration: 'jetson', jpegDecoder: 'nvjpegdec' });
  assert.equal(decodeFragment(JETSON, 'h264'), 'h264parse ! nvv4l2decoder');
  assert.equal(decodeFragment(JETSON, 'h265'), 'h265parse ! nvv4l2decoder');
  assert.equal(decodeFragment(JETSON, 'jpeg'), 'nvjpegdec');
  assert.equal(convertFragment(JETSON, { format: 'GRAY8', width: 448, height: 448 }), 'nvvidconv ! video/x-raw,format=GRAY8,width=448,height=448');
  // No packed 24-bit output from nvvidconv: scale on the VIC, drop the 4th byte in software.
  assert.equal(
    convertFragment(JETSON, { format: 'RGB', width: 448, height: 448 }),
    'nvvidconv ! video/x-raw,format=RGBA,width=448,height=448 ! videoconvert ! video/x-raw,format=RGB',
  );
  assert.equal(convertFragment(JETSON, { format: 'BGR' }), 'nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR');
  assert.equal(convertFragment(JETSON, null), 'nvvidconv ! video/x-raw', 'NVMM is always copied out for the appsink');
  assert.deepEqual(planGstElements(new Set(['nvvidconv', 'nvv4l2decoder'])), { acceleration: 'jetson', jpegDecoder: 'jpegdec' });
});

test('hardware decoding is never chosen without nvvidconv (NVMM needs it)', () => {
  const plan = planGstElements(new Set(['nvv4l2decoder', 'nvjpegdec']));
  assert.equal(plan.acceleration, 'software');
  assert.equal(decodeFragment(plan, 'jpeg'), 'jpegdec');
  assert.equal(planGstElements(new Set(['nvvidconv'])).acceleration, 'software');
});

test('software: gst-libav decoders when present, else decodebin; videoconvert/videoscale', () => {
  const libav = planGstElements(new Set(['avdec_h264', 'avdec_h265']));
  assert.equal(decodeFragment(libav, 'h264'), 'h264parse ! avdec_h264');
  assert.equal(decodeFragment(libav, 'h265'), 'h265parse ! avdec_h265');
  const bare = planGstElements(new Set());
  assert.equal(decodeFragment(bare, 'h264'), 'decodebin');
  assert.equal(convertFragment(bare, { format: 'GRAY8', width: 64, height: 48 }), 'videoconvert ! videoscale ! video/x-raw,format=GRAY8,width=64,height=48');
  assert.equal(convertFragment(bare, { format: 'RGB' }), 'videoconvert ! video/x-raw,format=RGB');
  assert.equal(convertFragment(bare, null), 'videoconvert');
});

test('on this machine: the probe finds no Jetson elements, and the software fragments run in real GStreamer', async () => {
  const found = probeGstElements([...GST_PROBE_ELEMENTS, 'videoconvert', 'linewatch-no-such-element']);
  assert.ok(found.has('videoconvert'), 'gst-inspect-1.0 finds videoconvert');
  assert.ok(!found.has('linewatch-no-such-element'));
  const plan = planGstElements(found);
  if (plan.acceleration === 'jetson') return; // a Jetson CI runner: the hardware path applies there
  for (const [format, bytes] of [['GRAY8', 64 * 48], ['RGB', 64 * 48 * 3]] as const) {
    const launch: string =
      `videotestsrc num-buffers=2 ! video/x-raw,width=320,height=240 ! jpegenc ! ${decodeFragment(plan, 'jpeg')} ! ` +
      `${convertFragment(plan, { format, width: 64, height: 48 })} ! fakesink silent=false`;
    const r = spawnSync('gst-launch-1.0', ['-v', '-e', ...launch.split(' ')], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${launch}\n${r.stdout}${r.stderr}`);
    // What reached the sink: the target format at the target size, and buffers of that many bytes.
    const sinkCaps = /GstFakeSink:fakesink0\.GstPad:sink: caps = ([^\n]*)/.exec(r.stdout)?.[1] ?? '';
    assert.match(sinkCaps, new RegExp(`format=\\(string\\)${format}\\b`));
    assert.match(sinkCaps, /width=\(int\)64\b/);
    assert.match(sinkCaps, /height=\(int\)48\b/);
    assert.match(r.stdout, new RegExp(`chain[^\\n]*\\(${bytes} bytes`));
  }
});

test('the presets splice the plan in: a Jetson converts on the VIC and decodes JPEG on NVJPG; here the software plan is probed', () => {
  const aravis = gstreamerSourceSchema.parse({
    type: 'gstreamer',
    format: 'RGB',
    width: 448,
    height: 448,
    input: { preset: 'aravis', camera: 'cam-7', pixelFormat: 'BayerRG8' },
  });
  const onJetson = buildLaunch(aravis, { elements: JETSON }).description;
  assert.match(onJetson, /bayer2rgb ! nvvidconv ! video\/x-raw,format=RGBA,width=448,height=448 ! videoconvert ! video\/x-raw,format=RGB ! appsink/);
  const stills = gstreamerSourceSchema.parse({ type: 'gstreamer', input: { preset: 'images', location: '/data/img_%05d.jpg' } });
  assert.match(buildLaunch(stills, { elements: JETSON }).description, / ! nvjpegdec ! nvvidconv ! video\/x-raw,format=GRAY8 ! appsink/);
  // No plan given = the software elements, exactly as before the probe existed.
  assert.equal(buildLaunch(aravis).description, buildLaunch(aravis, { elements: localElementPlan() }).description);
  assert.doesNotMatch(buildLaunch(aravis).description, /nvvidconv/);
  assert.equal(localElementPlan().acceleration, 'software');
});
