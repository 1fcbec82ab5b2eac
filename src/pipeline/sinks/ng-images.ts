import { constants } from 'node:fs';
import { access, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { errorMessage } from '../../errors.js';
import { bytesPerPixel } from '../frame.js';
import { mapRectToCamera } from '../geometry.js';
import type { JudgedFrame } from '../inspect/index.js';

/**
 * NG images for people: for each rejected frame, the camera image and the same image with the
 * anomaly map laid over it, as JPEGs in a ring folder (the oldest pairs are deleted beyond
 * `maxFrames`). Writing never holds up inspection: when the disk is slower than the rejects, the
 * extra images are skipped and counted.
 *
 * Line-scan cameras: a rejected segment comes as one judged frame per defect (`j.lineScan`): the
 * crop of the strip around it, written the same way (one ring entry per crop) with its place in
 * the name (`…-seg000003-d00-line000123-x0045-ng.jpg`) and a JSON sidecar (`….json`) holding the
 * segment, the defect's box in strip lines/pixels and mm, and the crop window.
 */
export interface NgImageSinkOptions {
  readonly dir: string;
  /** Rejected frames kept (two files each). */
  readonly maxFrames: number;
  /** JPEG quality 1–100. */
  readonly quality: number;
  /** Map value drawn transparent (at or below) and fully hot (at or above): the pixel calibration bounds. */
  readonly mapMin: number;
  readonly mapMax: number;
  /** The bounds of the model in force when an image is written (a model swap changes them); overrides mapMin/mapMax. */
  readonly mapRange?: () => { readonly min: number; readonly max: number };
  /**
   * Images being written at once at most; beyond, new ones are skipped. Default 8: a short burst
   * of rejects (three line-scan segments decided by one buffer, a few faulty parts in a row) is
   * written whole, while a disk slower than the rejects for good still never holds up inspection.
   */
  readonly maxPendingWrites?: number;
}

const NG_SUFFIX = '-ng.jpg';
const HEAT_SUFFIX = '-heatmap.jpg';
const SIDECAR_SUFFIX = '.json';

/** Map values → RGBA heat (blue → red), alpha growing with the value. */
export function heatRgba(map: Float32Array, min: number, max: number): Buffer {
  const n = map.length;
  const out = Buffer.allocUnsafe(n * 4);
  const span = max > min ? max - min : 1;
  for (let i = 0; i < n; i++) {
    let t = (map[i]! - min) / span;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const o = i * 4;
    out[o] = Math.round(255 * Math.min(1, 2 * t));
    out[o + 1] = Math.round(255 * (1 - Math.abs(2 * t - 1)));
    out[o + 2] = Math.round(255 * Math.max(0, 1 - 2 * t));
    out[o + 3] = Math.round(200 * t);
  }
  return out;
}

/**
 * A judged frame's camera pixels as sharp takes them: tight rows, red first. BGR and BGRA camera
 * buffers are swapped into a copy (the frame's own buffer is never touched). Shared by the NG
 * images and the MQTT heatmap, so both show a BGR camera in its true colours.
 */
export function cameraImage(j: JudgedFrame): ReturnType<typeof sharp> {
  const img = j.frame.image;
  if (img.kind === 'encoded') return sharp(img.data);
  const ch = bytesPerPixel(img.format);
  const row = img.width * ch;
  const stride = img.strideBytes ?? row;
  // repack copies; a tight buffer is the frame's own and must be copied before swapping.
  const copied = stride !== row;
  let tight = copied ? repack(img.data, row, stride, img.height) : img.data.subarray(0, row * img.height);
  if (img.format === 'BGR' || img.format === 'BGRA') tight = redFirst(tight, ch, copied);
  return sharp(tight, { raw: { width: img.width, height: img.height, channels: ch as 1 | 3 | 4 } });
}

/** Blue-first pixels → red-first; in place only when `owned` (a copy made here), else into a new buffer. */
function redFirst(data: Buffer, ch: number, owned: boolean): Buffer {
  const out = owned ? data : Buffer.from(data);
  for (let i = 0; i + 2 < out.length; i += ch) {
    const b = out[i]!;
    out[i] = out[i + 2]!;
    out[i + 2] = b;
  }
  return out;
}

/** mm along the web is NaN with an encoder before its first count: null in JSON. */
function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

function repack(data: Buffer, row: number, stride: number, height: number): Buffer {
  const out = Buffer.allocUnsafe(row * height);
  for (let y = 0; y < height; y++) data.copy(out, y * row, y * stride, y * stride + row);
  return out;
}

export class NgImageSink {
  private readonly opts: NgImageSinkOptions;
  private readonly ring: string[];
  private pending: number;
  private skipped: number;
  private written: number;
  private ready: Promise<void>;
  /** The line-scan segment (camera#seq) whose crops are being admitted: its other crops come in too. */
  private admitted = '';

  constructor(opts: NgImageSinkOptions) {
    this.opts = opts;
    this.ring = [];
    this.pending = 0;
    this.skipped = 0;
    this.written = 0;
    this.ready = this.scan();
    // Written to only after whenReady() or a write awaits it: an early failure is not unhandled.
    this.ready.catch(() => undefined);
  }

  /** Frames written and frames skipped because writing was behind. */
  stats(): { written: number; skipped: number } {
    return { written: this.written, skipped: this.skipped };
  }

  /** Take a judged frame (only rejects are written). Returns at once. */
  offer(j: JudgedFrame): void {
    if (j.verdict.verdict !== 'reject') return;
    // The crops of one line-scan segment arrive together: once its first is taken, so are the rest
    // (the tiler bounds how many there are).
    const group = j.lineScan === undefined ? '' : `${j.verdict.cameraId}#${j.verdict.seq}`;
    if ((group === '' || group !== this.admitted) && this.pending >= (this.opts.maxPendingWrites ?? 8)) {
      this.skipped++;
      return;
    }
    this.admitted = group;
    this.pending++;
    void this.write(j)
      .catch((err: unknown) => {
        this.skipped++;
        process.stderr.write(`linewatch: NG image of ${j.verdict.cameraId} #${j.verdict.seq} not written: ${errorMessage(err)}\n`);
      })
      .finally(() => {
        this.pending--;
      });
  }

  /** Resolves when the folder is made and its ring read; rejects when it cannot be (not writable, not a folder). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Resolves when the writes under way are done. */
  async flush(): Promise<void> {
    while (this.pending > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  private async scan(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    await access(this.opts.dir, constants.W_OK);
    const names = (await readdir(this.opts.dir)).filter((n) => n.endsWith(NG_SUFFIX)).sort();
    for (const n of names) this.ring.push(n.slice(0, -NG_SUFFIX.length));
  }

  private async write(j: JudgedFrame): Promise<void> {
    await this.ready;
    const v = j.verdict;
    const ls = j.lineScan;
    let sidecarText: string | null = null;
    let stem = `${new Date(v.capturedAtMs).toISOString().replace(/[:.]/g, '-')}-${v.cameraId}-${String(v.seq).padStart(8, '0')}`;
    if (ls !== undefined) {
      stem += `-seg${String(ls.segment).padStart(6, '0')}-d${String(ls.defect).padStart(2, '0')}-line${String(ls.line).padStart(6, '0')}-x${String(ls.x).padStart(4, '0')}`;
      const sidecar = { cameraId: v.cameraId, seq: v.seq, score: v.score, normScore: v.normScore, capturedAtMs: v.capturedAtMs, ...ls, alongMm: finite(ls.alongMm), lengthMm: finite(ls.lengthMm) };
      sidecarText = `${JSON.stringify(sidecar, null, 2)}\n`;
    }
    const base = cameraImage(j).removeAlpha().toColourspace('srgb');
    const { data, info } = await base.raw().toBuffer({ resolveWithObject: true });
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    const g = j.geometry;
    const where = mapRectToCamera(g, j.mapWidth, j.mapHeight, { x: 0, y: 0, width: j.mapWidth, height: j.mapHeight });
    const range = this.opts.mapRange?.() ?? { min: this.opts.mapMin, max: this.opts.mapMax };
    const heat = await sharp(heatRgba(j.map, range.min, range.max), {
      raw: { width: j.mapWidth, height: j.mapHeight, channels: 4 },
    })
      .resize(where.width, where.height, { fit: 'fill', kernel: 'linear' })
      .png()
      .toBuffer();
    const q = { quality: this.opts.quality };
    await writeFile(join(this.opts.dir, `${stem}${NG_SUFFIX}`), await sharp(data, raw).jpeg(q).toBuffer());
    await writeFile(
      join(this.opts.dir, `${stem}${HEAT_SUFFIX}`),
      await sharp(data, raw).composite([{ input: heat, left: where.x, top: where.y }]).jpeg(q).toBuffer(),
    );
    if (sidecarText !== null) await writeFile(join(this.opts.dir, `${stem}${SIDECAR_SUFFIX}`), sidecarText);
    this.written++;
    this.ring.push(stem);
    while (this.ring.length > this.opts.maxFrames) {
      const old = this.ring.shift()!;
      await rm(join(this.opts.dir, `${old}${NG_SUFFIX}`), { force: true });
      await rm(join(this.opts.dir, `${old}${HEAT_SUFFIX}`), { force: true });
      await rm(join(this.opts.dir, `${old}${SIDECAR_SUFFIX}`), { force: true });
    }
  }
}
