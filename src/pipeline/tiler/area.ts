import type { Manifest } from '../../models/manifest.js';
import { createBilinearPlan, resizeBilinear, type BilinearPlan } from '../postprocess/bilinear.js';
import type { FinishedMaps } from '../postprocess/finish.js';
import type { PreparedPixels } from '../preprocess/index.js';
import { cutTile, tileStarts } from './tiles.js';

/**
 * Area-scan frames tile by tile (manifest `geometry.tiles`): a frame, resized to
 * `geometry.resize` and not cropped, is cut into tiles of the model's input size along the same
 * starts as the line-scan tiler (tiles.ts `tileStarts`: every `tile − overlap` px, the last one
 * pulled back to end at the edge); each tile's final map is brought back to the tile's pixels
 * (bilinear, half-pixel, as trainer/trainer/tiling.py) and merged into the frame's map by maximum
 * — a defect one tile sees at its border is not diluted by a neighbour that does not see it, as
 * merge.ts does along a web — and the frame's score is the highest tile score. The frame's map is
 * at the resized frame's resolution, and its FrameGeometry (crop = the whole resized frame) puts
 * its regions in camera pixels: a defect that straddles two tiles is one region, reported once.
 *
 * Plans and scratch are made once per model (ModelSlot); `merge` is called per model run, so a
 * fixed-batch model may take a frame's tiles in several runs.
 */
export class AreaTiling {
  readonly frameHeight: number;
  readonly frameWidth: number;
  readonly tileHeight: number;
  readonly tileWidth: number;
  /** Tile origins in the resized frame, row by row. */
  readonly origins: readonly { readonly x: number; readonly y: number }[];
  private readonly toTile: BilinearPlan;
  private readonly tileMap: Float32Array;

  /**
   * @param mapHeight size of the finished map of one tile (the adapter's)
   * @example const tiling = AreaTiling.forManifest(manifest, adapter.mapHeight, adapter.mapWidth); // null when untiled
   */
  constructor(manifest: Manifest, mapHeight: number, mapWidth: number) {
    const g = manifest.geometry;
    const t = g.tiles;
    if (t === null) throw new RangeError('AreaTiling: the manifest has no geometry.tiles');
    this.frameHeight = g.resize.height;
    this.frameWidth = g.resize.width;
    this.tileHeight = t.height;
    this.tileWidth = t.width;
    const ys = tileStarts(this.frameHeight, t.height, t.overlap);
    const xs = tileStarts(this.frameWidth, t.width, t.overlap);
    const origins: { x: number; y: number }[] = [];
    for (const y of ys) for (const x of xs) origins.push({ x, y });
    this.origins = origins;
    this.toTile = createBilinearPlan(mapHeight, mapWidth, t.height, t.width, false);
    this.tileMap = new Float32Array(t.height * t.width);
  }

  /** The manifest's tiling, or null when it takes one crop per frame. */
  static forManifest(manifest: Manifest, mapHeight: number, mapWidth: number): AreaTiling | null {
    return manifest.geometry.tiles === null ? null : new AreaTiling(manifest, mapHeight, mapWidth);
  }

  /** Tiles per frame. */
  get count(): number {
    return this.origins.length;
  }

  /** A prepared frame (the whole resized frame) → its tiles, each prepared for the model; they keep the frame's geometry. */
  cut(frame: PreparedPixels): PreparedPixels[] {
    const ch = frame.channels;
    const out: PreparedPixels[] = [];
    for (const o of this.origins) {
      const tile = Buffer.allocUnsafe(this.tileHeight * this.tileWidth * ch);
      cutTile(frame.pixels, this.frameWidth, ch, o.x, o.y, this.tileWidth, this.tileHeight, tile);
      out.push({ pixels: tile, channels: ch, order: frame.order, geometry: frame.geometry });
    }
    return out;
  }

  /** Merged maps and scores for `frames` frames, to be filled by `merge` (maps −∞, scores −∞). */
  frames(frames: number): FinishedMaps {
    const maps = new Float32Array(frames * this.frameHeight * this.frameWidth).fill(Number.NEGATIVE_INFINITY);
    const scores = new Float32Array(frames).fill(Number.NEGATIVE_INFINITY);
    return { maps, height: this.frameHeight, width: this.frameWidth, scores };
  }

  /**
   * Merges finished tile maps into `into` (from `frames`): tile k of `finished` is tile
   * `firstTile + k` of the batch, i.e. tile (firstTile + k) % count of frame ⌊(firstTile + k) / count⌋.
   */
  merge(finished: FinishedMaps, tiles: number, firstTile: number, into: FinishedMaps): void {
    const plane = finished.height * finished.width;
    const fw = this.frameWidth;
    const framePlane = this.frameHeight * fw;
    const th = this.tileHeight;
    const tw = this.tileWidth;
    const tileMap = this.tileMap;
    const maps = into.maps;
    const scores = into.scores;
    for (let k = 0; k < tiles; k++) {
      const t = firstTile + k;
      const frame = Math.floor(t / this.count);
      const o = this.origins[t % this.count]!;
      resizeBilinear(this.toTile, finished.maps, k * plane, tileMap, 0);
      const base = frame * framePlane + o.y * fw + o.x;
      for (let y = 0; y < th; y++) {
        const row = base + y * fw;
        const src = y * tw;
        for (let x = 0; x < tw; x++) {
          const v = tileMap[src + x]!;
          if (v > maps[row + x]!) maps[row + x] = v;
        }
      }
      const s = finished.scores[k]!;
      if (s > scores[frame]!) scores[frame] = s;
    }
  }
}
