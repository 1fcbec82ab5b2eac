import sharp from 'sharp';
import { mapRectToCamera } from '../../pipeline/geometry.js';
import type { JudgedFrame } from '../../pipeline/inspect/index.js';
import { cameraImage, heatRgba } from '../../pipeline/sinks/ng-images.js';

/** Map values drawn transparent (at or below `min`) and fully hot (at or above `max`): the pixel calibration bounds. */
export interface HeatScale {
  readonly min: number;
  readonly max: number;
}

/**
 * The camera image with the anomaly map laid over it, as a JPEG, for …/heatmap. Only called for
 * frames the publisher's rate limit lets through, so its cost is bounded by maxPerSecond.
 */
export async function heatmapJpeg(j: JudgedFrame, scale: HeatScale, quality = 80): Promise<Buffer> {
  const base = cameraImage(j);
  const where = mapRectToCamera(j.geometry, j.mapWidth, j.mapHeight, { x: 0, y: 0, width: j.mapWidth, height: j.mapHeight });
  const heat = await sharp(heatRgba(j.map, scale.min, scale.max), { raw: { width: j.mapWidth, height: j.mapHeight, channels: 4 } })
    .resize(where.width, where.height, { fit: 'fill', kernel: 'linear' })
    .png()
    .toBuffer();
  return base
    .removeAlpha()
    .toColourspace('srgb')
    .composite([{ input: heat, left: where.x, top: where.y }])
    .jpeg({ quality })
    .toBuffer();
}
