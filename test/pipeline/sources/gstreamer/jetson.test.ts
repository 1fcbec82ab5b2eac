import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { LinewatchError } from '../../../../src/errors.js';
import {
  convertFragment,
  decodeFragment,
  GST_PROBE_ELEMENTS,
  jpegConverterInput,
  localElementPlan,
  NVVIDCONV_SYSTEM_INPUT_FORMATS,
  planGstElements,
  probeGstElements,
} from '../../../../src/pipeline/sources/gstreamer/jetson.js';
import { buildLaunch, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';
import { nvvidconvCaps } from './helpers/nvvidconv.js';

const JETSON = planGstElements(new Set(['nvvidconv', 'nvv4l2decoder', 'nvjpegdec', 'videoconvert']));
const VIC = 'nvvidconv interpolation-method=1';
const GUARD = `videoconvert ! video/x-raw,format={${NVVIDCONV_SYSTEM_INPUT_FORMATS.join(',')}} ! `;

test('a Jetson (nvvidconv + nvv4l2decoder) gets hardware decode and VIC convert/scale, bilinear', () => {
  assert.deepEqual(JETSON, { acceleration: 'jetson', jpegDecoder: 'nvjpegdec' });
  assert.equal(decodeFragment(JETSON, 'h264'), 'h264parse ! nvv4l2decoder');
  assert.equal(decodeFragment(JETSON, 'h265'), 'h265parse ! nvv4l2decoder');
  assert.equal(decodeFragment(JETSON, 'jpeg'), 'nvjpegdec');
  // Decoder output (NVMM or nvvidconv's own formats) goes straight in.
  assert.equal(convertFragment(JETSON, { format: 'GRAY8', width: 448, height: 448 }, 'decoded'), `${VIC} ! video/x-raw,format=GRAY8,width=448,height=448`);
  // No packed 24-bit output from nvvidconv: scale on the VIC, drop the 4th byte in software.
  assert.equal(
    convertFragment(JETSON, { format: 'RGB', width: 448, height: 448 }, 'decoded'),
    `${VIC} ! video/x-raw,format=RGBA,width=448,height=448 ! videoconvert ! video/x-raw,format=RGB`,
  );
  assert.equal(convertFragment(JETSON, { format: 'BGR' }, 'decoded'), `${VIC} ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR`);
  assert.equal(convertFragment(JETSON, null, 'decoded'), `${VIC} ! video/x-raw`, 'NVMM is always copied out for the appsink');
  // Raw input (cameras, files): a videoconvert that passes nvvidconv's formats and converts the rest.
  assert.equal(convertFragment(JETSON, { format: 'GRAY8' }), `${GUARD}${VIC} ! video/x-raw,format=GRAY8`);
  assert.deepEqual(planGstElements(new Set(['nvvidconv', 'nvv4l2decoder'])), { acceleration: 'jetson', jpegDecoder: 'jpegdec' });
  assert.equal(jpegConverterInput(JETSON), 'decoded');
  assert.equal(jpegConverterInput(planGstElements(new Set(['nvvidconv', 'nvv4l2decoder']))), 'raw', 'jpegdec writes system memory in any layout');
});

test('what the plans hand nvvidconv and ask of it is in its published caps (L4T r36)', () => {
  const caps = nvvidconvCaps();
  for (const f of NVVIDCONV_SYSTEM_INPUT_FORMATS) assert.ok(caps.sink.system.has(f), `nvvidconv's system-memory sink takes ${f}`);
  // The hardware feeding it in NVMM writes NV12 (and P010 for 10-bit streams).
  for (const f of ['NV12', 'P010_10LE']) assert.ok(caps.sink.NVMM.has(f));
  for (const f of ['GRAY8', 'RGBA', 'BGRx']) assert.ok(caps.src.system.has(f), `nvvidconv writes ${f} to system memory`);
  // The bug this guards against: packed RGB/BGR and Bayer are not among its formats.
  for (const f of ['RGB', 'BGR', 'rggb']) assert.ok(!caps.sink.system.has(f) && !caps.src.system.has(f), f);
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
  assert.equal(convertFragment(bare, { format: 'RGB' }, 'decoded'), 'videoconvert ! video/x-raw,format=RGB');
  assert.equal(convertFragment(bare, null), 'videoconvert');
});

test('on this machine: the probe finds no Jetson elements, and the software fragments run in real GStreamer', () => {
  const found = probeGstElements([...GST_PROBE_ELEMENTS, 'videoconvert', 'aravissrc', 'linewatch-no-such-element']);
  assert.ok(found.has('videoconvert'), 'gst-inspect-1.0 finds videoconvert');
  // aravis's plugin is version 0.8, below GStreamer's own (1.22), as a vendor's plugin may be on a Jetson.
  assert.ok(found.has('aravissrc'), 'a plugin versioned below GStreamer itself is found');
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
  assert.ok(
    onJetson.includes(`bayer2rgb ! ${GUARD}${VIC} ! video/x-raw,format=RGBA,width=448,height=448 ! videoconvert ! video/x-raw,format=RGB ! appsink`),
    onJetson,
  );
  const stills = gstreamerSourceSchema.parse({ type: 'gstreamer', input: { preset: 'images', location: '/data/img_%05d.jpg' } });
  assert.ok(buildLaunch(stills, { elements: JETSON }).description.includes(` ! nvjpegdec ! ${VIC} ! video/x-raw,format=GRAY8 ! appsink`));
  const rtsp = gstreamerSourceSchema.parse({ type: 'gstreamer', input: { preset: 'rtsp', url: 'rtsp://cam/1' } });
  assert.ok(buildLaunch(rtsp, { elements: JETSON }).description.includes(`! decodebin ! ${VIC} ! video/x-raw,format=GRAY8 ! appsink`), 'decoder output (maybe NVMM) straight in');
  // No plan given = the software elements, exactly as before the probe existed.
  assert.equal(buildLaunch(aravis).description, buildLaunch(aravis, { elements: localElementPlan() }).description);
  assert.doesNotMatch(buildLaunch(aravis).description, /nvvidconv/);
  assert.equal(localElementPlan().acceleration, 'software');
});

test('nvargus: a CSI camera through the ISP, NV12 in NVMM into nvvidconv; refused where there is no Jetson', () => {
  const csi = gstreamerSourceSchema.parse({
    type: 'gstreamer',
    format: 'RGB',
    width: 392,
    height: 392,
    input: { preset: 'nvargus', sensorId: 1, sensorMode: 2, width: 1920, height: 1080, fps: 30, exposureUs: 2000, gain: 4, whiteBalance: 'daylight' },
  });
  const plan = buildLaunch(csi, { elements: JETSON });
  assert.equal(
    plan.description.split(' ! appsink')[0],
    'nvarguscamerasrc sensor-id=1 sensor-mode=2 exposuretimerange="2000000 2000000" gainrange="4 4" wbmode=5' +
      ' ! video/x-raw(memory:NVMM),format=NV12,width=1920,height=1080,framerate=30/1' +
      ` ! ${VIC} ! video/x-raw,format=RGBA,width=392,height=392 ! videoconvert ! video/x-raw,format=RGB`,
  );
  assert.equal(plan.live, true);
  assert.equal(plan.restartOnEos, true);
  const defaults = gstreamerSourceSchema.parse({ type: 'gstreamer', format: 'native', input: { preset: 'nvargus' } });
  assert.equal(
    buildLaunch(defaults, { elements: JETSON }).description.split(' ! appsink')[0],
    `nvarguscamerasrc sensor-id=0 wbmode=1 ! video/x-raw(memory:NVMM),format=NV12 ! ${VIC} ! video/x-raw`,
    'native still copies NVMM out for the appsink',
  );
  assert.throws(
    () => buildLaunch(csi),
    (err: unknown) => err instanceof LinewatchError && err.code === 'LW_ERR_SOURCE_OPEN' && /preset nvargus: .* need a Jetson/.test(err.message),
  );
  for (const bad of [{ sensorId: -1 }, { gain: 0.5 }, { whiteBalance: 'sunny' }, { exposureUs: 0 }]) {
    assert.equal(gstreamerSourceSchema.safeParse({ type: 'gstreamer', input: { preset: 'nvargus', ...bad } }).success, false, JSON.stringify(bad));
  }
});
