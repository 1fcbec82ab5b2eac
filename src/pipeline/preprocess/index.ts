import sharp from 'sharp';
import { LinewatchError, errorMessage } from '../../errors.js';
import type { Manifest } from '../../models/manifest.js';
import { bytesPerPixel, type Frame, type RawImage } from '../frame.js';
import { computeGeometry, type FrameGeometry, type Rect } from '../geometry.js';
import { planResample, resampleCrop, type ResampleFilter, type ResamplePlan } from './resample.js';

/**
 * Camera image → model input, exactly as the bundle's manifest says: decode and ROI crop (sharp),
 * resize and centre crop as PIL does (resample.ts, bit-exact with Pillow), colour order, value
 * range and mean/std, into uint8 or float32, NHWC or NCHW. The FrameGeometry it returns lets
 * post-processing put defects back in camera pixels.
 */

// Camera frames never repeat: libvips' operation cache (up to 50 MiB by default) would only hold
// memory that resident-size checks then see growing.
sharp.cache(false);

export type InputTensor = Uint8Array | Float32Array;

/** The pixels of one frame at model size, before they are written into a tensor. */
export interface PreparedPixels {
  /** crop.height × crop.width × channels, interleaved, in `order`. */
  readonly pixels: Buffer;
  readonly channels: 1 | 3;
  /** Channel order of `pixels` (BGR camera buffers are swapped while writing the tensor, not copied). */
  readonly order: 'RGB' | 'BGR' | 'GRAY';
  readonly geometry: FrameGeometry;
}

/** Elements of one image in the model input. */
export function imageElements(manifest: Manifest): number {
  const i = manifest.input;
  return i.height * i.width * i.channels;
}

/** A zeroed batch tensor for `n` images in the manifest's dtype. */
export function allocateBatch(manifest: Manifest, n: number): InputTensor {
  const len = imageElements(manifest) * n;
  switch (manifest.input.dtype) {
    case 'uint8':
      return new Uint8Array(len);
    case 'float32':
      return new Float32Array(len);
    case 'float16':
      throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', 'input dtype float16 is not supported by the runtime preprocess (use uint8 or float32)');
  }
}

type SharpPipeline = ReturnType<typeof sharp>;

/** Resize plans by size: cameras keep their size, so this holds one or two entries in practice. */
const plans = new Map<string, ResamplePlan>();
const MAX_PLANS = 16;

function resamplePlanFor(inW: number, inH: number, outW: number, outH: number, filter: ResampleFilter, antialias: boolean): ResamplePlan {
  const key = `${inW}x${inH}>${outW}x${outH}:${filter}:${antialias}`;
  let plan = plans.get(key);
  if (plan === undefined) {
    if (plans.size >= MAX_PLANS) plans.clear();
    plan = planResample(inW, inH, outW, outH, filter, antialias);
    plans.set(key, plan);
  }
  return plan;
}

/** Raw buffers with padding at the end of each row are repacked (sharp wants tight rows). */
function rawRows(img: RawImage, bpp: number): { data: Buffer; stride: number } {
  const row = img.width * bpp;
  const stride = img.strideBytes ?? row;
  if (stride < row) {
    throw new LinewatchError('LW_ERR_FRAME_INVALID', `raw ${img.format} frame: stride ${stride} < row ${row} bytes`);
  }
  const need = stride * (img.height - 1) + row;
  if (img.data.length < need) {
    throw new LinewatchError(
      'LW_ERR_FRAME_INVALID',
      `raw ${img.format} ${img.width}x${img.height} frame: ${img.data.length} bytes, needs ${need}`,
    );
  }
  return { data: img.data, stride };
}

/** The rows of a raw image tightly packed: the image itself when they are, else one copy. */
export function tightRows(img: RawImage, bpp: number): Buffer {
  const { data, stride } = rawRows(img, bpp);
  const row = img.width * bpp;
  if (stride === row) return data.length === row * img.height ? data : data.subarray(0, row * img.height);
  // Not from the shared pool (see resampleCrop): these pixels may become the tensor itself.
  const out = Buffer.allocUnsafeSlow(row * img.height);
  for (let y = 0; y < img.height; y++) data.copy(out, y * row, y * stride, y * stride + row);
  return out;
}

/** Default `cameras[].maxFramePixels`: the largest industrial area sensors (~151 MP) fit. */
export const DEFAULT_MAX_FRAME_PIXELS = 150_000_000;

/** Refuses a frame larger than `maxPixels` from its stated size (nothing decoded yet). */
export function checkFramePixels(width: number, height: number, maxPixels: number, what: string): void {
  if (width * height > maxPixels) {
    throw new LinewatchError(
      'LW_ERR_FRAME_TOO_LARGE',
      `${what}: ${width}×${height} = ${width * height} pixels, more than this camera's maxFramePixels ${maxPixels}; not decoded`,
    );
  }
}

/** What a frame says it is, for messages: its file, or its seq and camera. */
export function frameName(frame: Frame): string {
  const image = frame.image;
  return image.kind === 'encoded' && image.origin !== undefined ? image.origin : `frame ${frame.seq} of ${frame.cameraId}`;
}

/**
 * Decodes, crops and resizes one frame to the model's input size. The frame's size is checked
 * against `maxPixels` from its header (raw: its width and height) before anything is decoded.
 *
 * @throws LinewatchError LW_ERR_FRAME_DECODE (corrupt or empty image), LW_ERR_FRAME_INVALID (bad
 *   raw buffer, Bayer data, ROI outside the image), LW_ERR_FRAME_TOO_LARGE (over maxPixels)
 */
export async function preparePixels(frame: Frame, manifest: Manifest, roi?: Rect, maxPixels = DEFAULT_MAX_FRAME_PIXELS): Promise<PreparedPixels> {
  const image = frame.image;
  const input = manifest.input;
  const what = frameName(frame);
  try {
    let width: number;
    let height: number;
    let swapped = false;
    // Raw pixels already in the model's channel count skip libvips entirely (the common camera case),
    // and are read where they lie, rows `directStride` apart (a tile in its strip, padded rows).
    let direct: Buffer | null = null;
    let directStride = 0;
    let pipeline: SharpPipeline | null = null;
    if (image.kind === 'raw') {
      const bpp = bytesPerPixel(image.format);
      if (image.format.startsWith('Bayer')) {
        throw new LinewatchError('LW_ERR_FRAME_INVALID', `${what}: ${image.format} must be demosaiced by the source before preprocessing`);
      }
      if (!(image.width > 0 && image.height > 0)) {
        throw new LinewatchError('LW_ERR_FRAME_INVALID', `${what}: impossible size ${image.width}x${image.height}`);
      }
      checkFramePixels(image.width, image.height, maxPixels, what);
      swapped = image.format === 'BGR' || image.format === 'BGRA';
      if (bpp === input.channels) ({ data: direct, stride: directStride } = rawRows(image, bpp));
      else pipeline = sharp(tightRows(image, bpp), { raw: { width: image.width, height: image.height, channels: bpp as 1 | 3 | 4 } });
      width = image.width;
      height = image.height;
    } else {
      if (image.data.length === 0) throw new LinewatchError('LW_ERR_FRAME_DECODE', `${what}: empty or unreadable file`);
      // metadata() reads the header only: the size is checked before anything is decoded.
      pipeline = sharp(image.data, { failOn: 'error' });
      const meta = await pipeline.metadata();
      if (meta.width === undefined || meta.height === undefined) {
        throw new LinewatchError('LW_ERR_FRAME_DECODE', `${what}: not an image sharp can decode`);
      }
      checkFramePixels(meta.width, meta.height, maxPixels, what);
      // EXIF orientation is ignored on purpose: a camera image's pixels are what the model saw in training.
      width = meta.width;
      height = meta.height;
    }
    let geometry: FrameGeometry;
    try {
      geometry = computeGeometry({ width, height }, manifest.geometry.resize, manifest.geometry.crop, roi);
    } catch (err) {
      throw new LinewatchError('LW_ERR_FRAME_INVALID', `${what}: ${errorMessage(err)}`, { cause: err });
    }
    const r = geometry.roi;
    const whole = r.x === 0 && r.y === 0 && r.width === width && r.height === height;
    let data: Buffer;
    let stride = r.width * input.channels;
    if (direct !== null) {
      data = whole ? direct : copyRect(direct, directStride, input.channels, r);
      if (whole) stride = directStride;
    } else {
      let p = pipeline!;
      if (!whole) p = p.extract({ left: r.x, top: r.y, width: r.width, height: r.height });
      p = input.channels === 1 ? p.toColourspace('b-w') : p.toColourspace('srgb');
      const decoded = await p.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const info = decoded.info;
      if (info.width !== r.width || info.height !== r.height || info.channels !== input.channels) {
        throw new LinewatchError(
          'LW_ERR_FRAME_INVALID',
          `${what}: decoding gave ${info.width}x${info.height}x${info.channels}, expected ${r.width}x${r.height}x${input.channels}`,
        );
      }
      data = decoded.data;
    }
    // Resize and crop exactly as PIL (what the model was trained with), not as libvips.
    const rs = manifest.geometry.resize;
    const c = geometry.crop;
    const plan = resamplePlanFor(r.width, r.height, rs.width, rs.height, rs.method, rs.antialias);
    const pixels = resampleCrop(plan, data, input.channels, c.x, c.y, c.width, c.height, stride);
    return {
      pixels,
      channels: input.channels,
      order: input.channels === 1 ? 'GRAY' : swapped ? 'BGR' : 'RGB',
      geometry,
    };
  } catch (err) {
    if (err instanceof LinewatchError) throw err;
    throw new LinewatchError('LW_ERR_FRAME_DECODE', `${what}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Rows of a rectangle of an image whose rows lie `stride` bytes apart, copied out tightly packed. */
function copyRect(src: Buffer, stride: number, channels: number, r: Rect): Buffer {
  const row = r.width * channels;
  const out = Buffer.allocUnsafeSlow(row * r.height); // not pooled: it may become the tensor (resampleCrop)
  for (let y = 0; y < r.height; y++) {
    const from = (r.y + y) * stride + r.x * channels;
    src.copy(out, y * row, from, from + row);
  }
  return out;
}

/**
 * Writes prepared pixels as image `index` of a batch tensor, applying colour order, value range
 * and mean/std per the manifest.
 */
export function writeTensor(p: PreparedPixels, manifest: Manifest, target: InputTensor, index: number): void {
  const input = manifest.input;
  const h = input.height;
  const w = input.width;
  const ch = input.channels;
  const plane = h * w;
  const base = index * plane * ch;
  const src = p.pixels;
  // Source channel feeding target channel k: swap R and B when the orders differ.
  const wantBgr = input.colorOrder === 'BGR';
  const haveBgr = p.order === 'BGR';
  const swap = ch === 3 && wantBgr !== haveBgr;
  const c0 = swap ? 2 : 0;
  const c2 = swap ? 0 : 2;
  const nchw = input.layout === 'NCHW';
  if (target instanceof Uint8Array) {
    if (!nchw && !swap) {
      target.set(src.subarray(0, plane * ch), base);
      return;
    }
    for (let i = 0; i < plane; i++) {
      const s = i * ch;
      if (ch === 1) target[base + i] = src[s]!;
      else if (nchw) {
        target[base + i] = src[s + c0]!;
        target[base + plane + i] = src[s + 1]!;
        target[base + 2 * plane + i] = src[s + c2]!;
      } else {
        target[base + s] = src[s + c0]!;
        target[base + s + 1] = src[s + 1]!;
        target[base + s + 2] = src[s + c2]!;
      }
    }
    return;
  }
  const lo = input.valueRange[0];
  const hi = input.valueRange[1];
  const scale = (hi - lo) / 255;
  const norm = input.normalize;
  // Fold value range and mean/std into one multiply-add per channel: v·a + b.
  const a = new Float64Array(3);
  const b = new Float64Array(3);
  for (let k = 0; k < 3; k++) {
    const mean = norm === null ? 0 : norm.mean[k]!;
    const std = norm === null ? 1 : norm.std[k]!;
    a[k] = scale / std;
    b[k] = (lo - mean) / std;
  }
  const a0 = a[0]!, a1 = a[1]!, a2 = a[2]!, b0 = b[0]!, b1 = b[1]!, b2 = b[2]!;
  for (let i = 0; i < plane; i++) {
    const s = i * ch;
    if (ch === 1) {
      target[base + i] = src[s]! * a0 + b0;
    } else if (nchw) {
      target[base + i] = src[s + c0]! * a0 + b0;
      target[base + plane + i] = src[s + 1]! * a1 + b1;
      target[base + 2 * plane + i] = src[s + c2]! * a2 + b2;
    } else {
      target[base + s] = src[s + c0]! * a0 + b0;
      target[base + s + 1] = src[s + 1]! * a1 + b1;
      target[base + s + 2] = src[s + c2]! * a2 + b2;
    }
  }
}

/**
 * The batch tensor for prepared frames, in order. A single uint8 NHWC image in the model's colour
 * order already is its tensor: those pixels are handed over as they are (no second 150 KB-and-up
 * buffer and copy per frame, which on the main thread is what drives V8's full collections). The
 * engine then transfers them away: `prepared` must not be read after the run, only its geometry.
 */
export function batchTensor(prepared: readonly PreparedPixels[], manifest: Manifest): InputTensor {
  const input = manifest.input;
  const p = prepared[0];
  if (
    prepared.length === 1 &&
    p !== undefined &&
    input.dtype === 'uint8' &&
    (input.layout === 'NHWC' || input.channels === 1) &&
    (input.channels === 1 || p.order === input.colorOrder) &&
    p.pixels.length === imageElements(manifest) &&
    // Only pixels that own their whole buffer: a slice of Node's shared Buffer pool must not be sent.
    p.pixels.byteOffset === 0 &&
    p.pixels.byteLength === p.pixels.buffer.byteLength
  ) {
    return p.pixels;
  }
  const tensor = allocateBatch(manifest, prepared.length);
  for (let k = 0; k < prepared.length; k++) writeTensor(prepared[k]!, manifest, tensor, k);
  return tensor;
}

/**
 * One frame → its own input tensor (batch of 1) and geometry. The pipeline uses preparePixels +
 * writeTensor to fill a whole batch; this is the simple form for tools and tests.
 *
 * @example
 * const { tensor, geometry } = await prepare(frame, bundle.manifest);
 */
export async function prepare(
  frame: Frame,
  manifest: Manifest,
  roi?: Rect,
): Promise<{ tensor: InputTensor; geometry: FrameGeometry }> {
  const p = await preparePixels(frame, manifest, roi);
  const tensor = allocateBatch(manifest, 1);
  writeTensor(p, manifest, tensor, 0);
  return { tensor, geometry: p.geometry };
}
