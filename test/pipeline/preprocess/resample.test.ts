import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { planAxis, planResample, resampleCrop, type ResampleFilter } from '../../../src/pipeline/preprocess/resample.js';

interface Reference {
  pillow: string;
  source: { width: number; height: number; png: string };
  cases: { width: number; height: number; filter: ResampleFilter; base64: string }[];
}

const refPath = fileURLToPath(new URL('../../../../test/fixtures/preprocess/reference.json', import.meta.url));

test('resize is bit-exact with Pillow (bilinear, bicubic, nearest; shrinking and enlarging)', async () => {
  const ref = JSON.parse(await readFile(refPath, 'utf8')) as Reference;
  const { data, info } = await sharp(Buffer.from(ref.source.png, 'base64')).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [ref.source.width, ref.source.height, 3]);
  assert.ok(ref.cases.length >= 12);
  for (const c of ref.cases) {
    const want = Buffer.from(c.base64, 'base64');
    const plan = planResample(info.width, info.height, c.width, c.height, c.filter);
    const got = resampleCrop(plan, data, 3, 0, 0, c.width, c.height);
    let differ = 0;
    for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) differ++;
    assert.equal(differ, 0, `${c.filter} ${c.width}x${c.height}: ${differ} values differ from Pillow ${ref.pillow}`);
    // The same image as a view inside a wider one (rows 40 px apart more, as a tile in its strip) is read in place, bit-exact too.
    const stride = (info.width + 40) * 3;
    const wide = Buffer.alloc(stride * info.height + 7, 99);
    for (let y = 0; y < info.height; y++) data.copy(wide, 7 + y * stride, y * info.width * 3, (y + 1) * info.width * 3);
    const inPlace = resampleCrop(plan, wide.subarray(7), 3, 0, 0, c.width, c.height, stride);
    assert.ok(inPlace.equals(got), `${c.filter} ${c.width}x${c.height} read with a stride`);
    // A crop window computes the same pixels as cropping the whole result.
    const cx = Math.floor(c.width / 4);
    const cy = Math.floor(c.height / 3);
    const cw = Math.max(1, Math.floor(c.width / 2));
    const ch = Math.max(1, Math.floor(c.height / 2));
    const win = resampleCrop(plan, data, 3, cx, cy, cw, ch);
    for (let y = 0; y < ch; y++) {
      const a = win.subarray(y * cw * 3, (y + 1) * cw * 3);
      const b = want.subarray(((cy + y) * c.width + cx) * 3, ((cy + y) * c.width + cx + cw) * 3);
      assert.ok(a.equals(b), `${c.filter} ${c.width}x${c.height} crop row ${y}`);
    }
  }
});

test('same size is the identity; shrinking widens the filter (antialias) unless told not to', () => {
  const src = new Uint8Array([10, 200, 30, 40, 250, 60]);
  const same = resampleCrop(planResample(6, 1, 6, 1, 'bilinear'), src, 1, 0, 0, 6, 1);
  assert.deepEqual([...same], [...src]);
  const aa = planAxis(400, 100, 'bilinear');
  const plain = planAxis(400, 100, 'bilinear', false);
  assert.ok(aa.taps > plain.taps, `antialiased taps ${aa.taps} > plain ${plain.taps}`);
  assert.equal(plain.size[10], 2, 'plain bilinear reads two input pixels');
  let sum = 0;
  for (let t = 0; t < aa.size[10]!; t++) sum += aa.weights[10 * aa.taps + t]!;
  assert.ok(Math.abs(sum - 2 ** 22) <= aa.taps, 'weights are normalised (22-bit fixed point)');
});
