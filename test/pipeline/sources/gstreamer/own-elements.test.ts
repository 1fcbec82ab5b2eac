import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GstreamerSource, buildLaunch, gstreamerSourceSchema } from '../../../../src/pipeline/sources/gstreamer/index.js';
import { SOFTWARE_PLAN } from '../../../../src/pipeline/sources/gstreamer/jetson.js';
import { chooseAravisElement } from '../../../../src/pipeline/sources/gstreamer/own-elements.js';

/** Which aravis element a camera runs on, what its description asks of it, and what status then promises. */

const aravis = (input: Record<string, unknown>) =>
  gstreamerSourceSchema.parse({ type: 'gstreamer', input: { preset: 'aravis', camera: 'cam-7', ...input } });

test('the configuration\'s element wins; absent, the machine\'s best; lwaravissrc named where it is not built is refused', () => {
  assert.equal(chooseAravisElement(undefined, () => 'lwaravissrc'), 'lwaravissrc');
  assert.equal(chooseAravisElement(undefined, () => 'aravissrc'), 'aravissrc', 'falls back without frame ids');
  assert.equal(chooseAravisElement('aravissrc', () => 'lwaravissrc'), 'aravissrc');
  assert.throws(() => chooseAravisElement('lwaravissrc', () => 'aravissrc'), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'LW_ERR_SOURCE_OPEN');
    assert.match(err.message, /lwaravissrc is not built here .*build-gst-plugin\.sh/);
    return true;
  });
});

test('each element gets its own property names; only aravissrc is reopened by setting camera-name again', () => {
  const config = aravis({ exposureUs: 800, gainDb: 2, packetSizeBytes: 8192, packetResend: false });
  const own = buildLaunch(config, { aravisElement: 'lwaravissrc' });
  assert.match(own.description, /^lwaravissrc name=lwcam camera-name="cam-7" exposure=800 gain=2 packet-size=8192 packet-resend=false features="TriggerMode=Off" ! /);
  assert.equal(own.reopen, null, 'lwaravissrc opens the camera at each start');
  const stock = buildLaunch(config, { aravisElement: 'aravissrc' });
  assert.match(stock.description, /^aravissrc name=lwcam camera-name="cam-7" exposure-auto=off exposure=800 gain-auto=off gain=2 auto-packet-size=false packet-size=8192 features="TriggerMode=Off" ! /);
  assert.deepEqual(stock.reopen, { element: 'lwcam', property: 'camera-name', value: 'cam-7' });
  assert.doesNotMatch(buildLaunch(aravis({}), { aravisElement: 'lwaravissrc' }).description, /packet-resend/, 'resend on is the default');
  assert.equal(buildLaunch(config).description, own.description, 'buildLaunch alone plans linewatch\'s element');
});

test('status says what each element can tell: frame ids (offsets) through lwaravissrc; through aravissrc timestamps at a set rate, else none', () => {
  const status = (input: Record<string, unknown>, aravisElement: 'lwaravissrc' | 'aravissrc') =>
    new GstreamerSource('gige1', aravis(input), { elements: SOFTWARE_PLAN, aravisElement }).lossVisibility();
  assert.deepEqual(status({ trigger: 'line1' }, 'lwaravissrc'), { dropped: 'per-frame', upstream: 'offsets' });
  assert.deepEqual(status({ trigger: 'line1' }, 'aravissrc'), { dropped: 'per-frame', upstream: 'none' });
  assert.deepEqual(status({ fps: 25 }, 'aravissrc'), { dropped: 'per-frame', upstream: 'timestamps' });
});
