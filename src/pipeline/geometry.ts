/**
 * How a camera image became the model input, and the way back. Preprocess records a
 * FrameGeometry per frame; post-processing uses it to put defects in camera pixels.
 *
 * Chain: camera image → ROI rect (camera pixels) → resize to `resize` (aspect not kept) →
 * crop rect (resized pixels) = model input. The anomaly map covers the model input.
 */

/** Axis-aligned rectangle in pixels; x, y is the top-left corner. */
export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

export interface FrameGeometry {
  /** The whole camera image. */
  readonly source: Size;
  /** The region of the camera image that was used, in camera pixels (the whole image when no ROI). */
  readonly roi: Rect;
  /** The ROI was resized to this size. */
  readonly resize: Size;
  /** Then this rectangle of the resized image became the model input. */
  readonly crop: Rect;
}

/** A point in camera pixels (continuous: pixel (i, j) spans [i, i+1) × [j, j+1)). */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/**
 * Python's round(): halves go to the even neighbour. torchvision's CenterCrop uses it for the
 * crop offset, so an odd margin must round the same way here or maps shift by one pixel.
 */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The geometry a manifest's resize-then-centre-crop recipe gives for a camera image.
 *
 * @param source camera image size
 * @param resize size the ROI is resized to
 * @param crop size of the centre crop, or null for none
 * @param roi region of interest in camera pixels; default the whole image
 * @example
 * computeGeometry({ width: 1280, height: 960 }, { width: 448, height: 448 }, { width: 392, height: 392 })
 * // crop = { x: 28, y: 28, width: 392, height: 392 }
 */
export function computeGeometry(source: Size, resize: Size, crop: Size | null, roi?: Rect): FrameGeometry {
  const r = roi ?? { x: 0, y: 0, width: source.width, height: source.height };
  if (r.width <= 0 || r.height <= 0 || r.x < 0 || r.y < 0 || r.x + r.width > source.width || r.y + r.height > source.height) {
    throw new RangeError(
      `ROI ${r.width}x${r.height}+${r.x}+${r.y} does not fit inside the ${source.width}x${source.height} image`,
    );
  }
  let c: Rect;
  if (crop === null) {
    c = { x: 0, y: 0, width: resize.width, height: resize.height };
  } else {
    if (crop.width > resize.width || crop.height > resize.height) {
      throw new RangeError(`crop ${crop.width}x${crop.height} is larger than the resize ${resize.width}x${resize.height}`);
    }
    c = {
      x: roundHalfEven((resize.width - crop.width) / 2),
      y: roundHalfEven((resize.height - crop.height) / 2),
      width: crop.width,
      height: crop.height,
    };
  }
  return { source: { width: source.width, height: source.height }, roi: r, resize: { width: resize.width, height: resize.height }, crop: c };
}

/**
 * Map-pixel coordinates (continuous, the map covering the model input) → camera pixels.
 * Undoes the crop, then the resize, then the ROI offset.
 */
export function mapPointToCamera(g: FrameGeometry, mapWidth: number, mapHeight: number, u: number, v: number): Point {
  const xr = g.crop.x + (u * g.crop.width) / mapWidth;
  const yr = g.crop.y + (v * g.crop.height) / mapHeight;
  return {
    x: g.roi.x + (xr * g.roi.width) / g.resize.width,
    y: g.roi.y + (yr * g.roi.height) / g.resize.height,
  };
}

/** Camera pixels covered by one map pixel (for converting areas). */
export function cameraPixelsPerMapPixel(g: FrameGeometry, mapWidth: number, mapHeight: number): number {
  const sx = (g.crop.width / mapWidth) * (g.roi.width / g.resize.width);
  const sy = (g.crop.height / mapHeight) * (g.roi.height / g.resize.height);
  return sx * sy;
}

/**
 * A rectangle in map pixels → the smallest whole-pixel rectangle in camera pixels that holds it,
 * clipped to the ROI.
 */
export function mapRectToCamera(g: FrameGeometry, mapWidth: number, mapHeight: number, r: Rect): Rect {
  const a = mapPointToCamera(g, mapWidth, mapHeight, r.x, r.y);
  const b = mapPointToCamera(g, mapWidth, mapHeight, r.x + r.width, r.y + r.height);
  // The tiny epsilon keeps exact integers (the common case) from growing by a pixel through rounding noise.
  const eps = 1e-9;
  const x0 = Math.max(g.roi.x, Math.floor(a.x + eps));
  const y0 = Math.max(g.roi.y, Math.floor(a.y + eps));
  const x1 = Math.min(g.roi.x + g.roi.width, Math.ceil(b.x - eps));
  const y1 = Math.min(g.roi.y + g.roi.height, Math.ceil(b.y - eps));
  return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}
