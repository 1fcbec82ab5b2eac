/**
 * How much of each defect of a test set lies outside what the model sees. A centre crop drops a
 * band at every side of the frame (6.25 % each way for the authors' 448 → 392), and a defect
 * there is not found however good the model is; a real set with defects near the border loses
 * many (issue 18: 41 of 388 on a set of tiles, 49 of 50 of a long part's partly). `eval` counts the
 * defective images whose mask lies entirely or partly outside the view and warns.
 *
 * A mask pixel is seen when its centre, carried through the resize, falls inside the crop
 * rectangle of the geometry the runtime computes for that image (src/pipeline/geometry.ts); the
 * same rule as trainer/trainer/coverage.py.
 */
import sharp from 'sharp';
import { LinewatchError, errorMessage } from '../errors.js';
import type { Manifest } from '../models/manifest.js';
import { computeGeometry } from '../pipeline/geometry.js';
import type { EvalDataset } from './dataset.js';

/** What the view leaves out of a set's defective images. */
export interface Coverage {
  /** How the model sees a frame, e.g. "392x392 crop of 448x448" or "224x560 (whole view)". */
  readonly view: string;
  /** Defective images with a non-empty mask. */
  readonly defective: number;
  /** Names of images whose whole defect is outside the view. */
  readonly fullyOutside: readonly string[];
  /** Names of images with part of their defect outside the view. */
  readonly partlyOutside: readonly string[];
  /** Mean share of defect pixels not seen, over the images with any outside (0 when none). */
  readonly meanShareLost: number;
}

/** "392x392 crop of 448x448", "224x560 (whole view)" or the tiles. */
export function describeView(m: Manifest): string {
  const g = m.geometry;
  const tiles = (g as { tiles?: { height: number; width: number; overlap: number } | null }).tiles;
  if (tiles) return `tiles of ${tiles.height}x${tiles.width} over ${g.resize.height}x${g.resize.width} (whole view)`;
  const c = g.crop;
  if (c === null || (c.height === g.resize.height && c.width === g.resize.width)) return `${g.resize.height}x${g.resize.width} (whole view)`;
  return `${c.height}x${c.width} crop of ${g.resize.height}x${g.resize.width}`;
}

/**
 * Pure: of a binary mask (non-zero = defect) of `width` × `height`, how many pixels are defect and
 * how many of those the model does not see under `manifest`'s geometry.
 * @example outsideShare(mask, 896, 896, manifest) // { defect: 1600, outside: 800 }
 */
export function outsideShare(mask: Uint8Array, width: number, height: number, manifest: Manifest): { defect: number; outside: number } {
  const g = manifest.geometry;
  const crop = computeGeometry({ width, height }, g.resize, g.crop).crop;
  const sx = g.resize.width / width;
  const sy = g.resize.height / height;
  const x0 = crop.x;
  const x1 = crop.x + crop.width;
  const y0 = crop.y;
  const y1 = crop.y + crop.height;
  let defect = 0;
  let outside = 0;
  for (let y = 0; y < height; y++) {
    const yr = (y + 0.5) * sy;
    const rowSeen = yr >= y0 && yr < y1;
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (mask[row + x] === 0) continue;
      defect++;
      if (!rowSeen) {
        outside++;
        continue;
      }
      const xr = (x + 0.5) * sx;
      if (xr < x0 || xr >= x1) outside++;
    }
  }
  return { defect, outside };
}

async function readMask(path: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(path, { failOn: 'error' }).toColourspace('b-w').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `ground-truth mask ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Reads every defective test image's mask at its own resolution and counts what the view leaves out. */
export async function measureCoverage(dataset: EvalDataset, manifest: Manifest): Promise<Coverage> {
  const view = describeView(manifest);
  let defective = 0;
  const fullyOutside: string[] = [];
  const partlyOutside: string[] = [];
  let lostSum = 0;
  for (const c of dataset.categories) {
    for (const s of c.samples) {
      if (s.label !== 1 || s.maskPath === null) continue;
      const m = await readMask(s.maskPath);
      // A binary mask may be 0/255 or 0/1: non-zero is defect (as production-path.ts reads them).
      const { defect, outside } = outsideShare(m.data, m.width, m.height, manifest);
      if (defect === 0) continue;
      defective++;
      if (outside === 0) continue;
      lostSum += outside / defect;
      (outside === defect ? fullyOutside : partlyOutside).push(s.name);
    }
  }
  const lost = fullyOutside.length + partlyOutside.length;
  return { view, defective, fullyOutside, partlyOutside, meanShareLost: lost > 0 ? lostSum / lost : 0 };
}

/** Lines for the terminal: one when nothing is lost, a warning with the remedy otherwise. */
export function coverageLines(c: Coverage): string[] {
  if (c.defective === 0) return [];
  const lost = c.fullyOutside.length + c.partlyOutside.length;
  if (lost === 0) return [`view: all ${c.defective} defects lie inside what the model sees (${c.view})`];
  return [
    `WARNING: the model sees ${c.view}; of ${c.defective} defective images, ${c.fullyOutside.length} have their defect ` +
      `entirely outside that view and ${c.partlyOutside.length} partly (on average ${(c.meanShareLost * 100).toFixed(1)} % of ` +
      "those defects' pixels are not seen). No model finds what it is not shown: retrain with the whole field of view " +
      '(bin/trainer train without --crop, the default for new models), or frame the parts so that the defects fall inside.',
    ...[...c.fullyOutside, ...c.partlyOutside].slice(0, 3).map((n) => `  e.g. ${n}`),
  ];
}
