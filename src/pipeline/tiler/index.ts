import { LinewatchError } from '../../errors.js';
import type { Defect } from '../verdict.js';
import { cropWindow, type DefectCrop } from './crops.js';
import { MapWindow, type TileBound } from './merge.js';
import { LinePositions, type WebResolution } from './position.js';
import { StreamingRegions } from './regions.js';
import { SegmentJudge, type SegmentDecision } from './segments.js';
import { cutTile, tileStarts, tileView } from './tiles.js';

export { tileStarts, cutTile, tileView } from './tiles.js';
export { MapWindow, type TileBound } from './merge.js';
export { StreamingRegions, type StripRegion } from './regions.js';
export { LinePositions, type WebResolution } from './position.js';
export { SegmentJudge, type SegmentDecision } from './segments.js';
export { cropWindow, type CropWindow, type DefectCrop } from './crops.js';

/**
 * Line-scan: buffers of N lines are stitched into one endless strip, cut into model-sized tiles
 * (overlapping across and along the web), the tiles' anomaly maps merged back into strip
 * coordinates (maximum, see merge.ts), and defects reported once each, with positions in mm.
 *
 * Use: `push()` each camera buffer → bands of tiles to infer (one batch per band); give each
 * band's maps back to `addMaps()` in band order → defects and segment decisions; `end()` at the
 * end of the web.
 */

export interface TilerOptions {
  /** Strip width in pixels (the camera's line length). */
  readonly width: number;
  /** Bytes per pixel (1 GRAY8, 3 RGB). */
  readonly channels: number;
  /** Tile size in pixels: the model's input size. */
  readonly tileWidth: number;
  readonly tileHeight: number;
  /** Overlap between neighbouring tiles across the web, in pixels. Default 0. */
  readonly overlapAcrossPx?: number;
  /** Overlap between consecutive bands along the web, in lines. Default 0. */
  readonly overlapAlongLines?: number;
  /** Map value from which a pixel is anomalous. */
  readonly threshold: number;
  /** Pixel pitch across the web, in mm. */
  readonly mmPerPixel: number;
  readonly resolution: WebResolution;
  /** Length of web decided at once (cut length, part pitch), in mm. */
  readonly segmentLengthMm: number;
  /** A segment is rejected for a defect of at least this many pixels. Default 1. */
  readonly minDefectAreaPx?: number;
}

/**
 * One tile of a band: its place in the strip and its pixels, tileHeight rows of tileWidth ×
 * channels bytes lying `strideBytes` apart — a view of the strip, not a copy, valid until the next
 * `push()` (the strip moves then).
 */
export interface Tile {
  readonly x: number;
  readonly line: number;
  readonly data: Uint8Array;
  /** Bytes from one tile row to the next (the strip's width × channels). */
  readonly strideBytes: number;
}

/** One row of tiles across the web, inferred as one batch. */
export interface Band {
  readonly index: number;
  readonly line: number;
  readonly tiles: readonly Tile[];
}

/**
 * A defect in strip coordinates: pixels across (x, w), absolute lines along (y, h), and in mm.
 * Its box, area and peak are a verdict's Defect, which allows strip coordinates for line-scan.
 */
export interface LineDefect extends Defect {
  /** Position of its first line along the web, in mm (NaN with an encoder before its first count). */
  readonly alongMm: number;
  /** Position of its left edge across the web, in mm. */
  readonly acrossMm: number;
  readonly lengthMm: number;
  readonly widthMm: number;
}

export interface MapsResult {
  readonly defects: readonly LineDefect[];
  readonly segments: readonly SegmentDecision[];
}

/** Crops held at most (cut, or waiting for their lines) while segments are undecided; beyond, a defect gets none. */
const MAX_HELD_CROPS = 64;
/**
 * Lines held back for crops at most, in tile heights: a defect longer than that (a streak along the
 * web) gets a crop of its last lines only, so that memory stays bounded whatever the web.
 */
const MAX_CROP_TILES = 8;

export class LineScanTiler {
  private readonly o: Required<TilerOptions>;
  private readonly starts: readonly number[];
  private readonly stepLines: number;
  private pixels: Uint8Array;
  /** Absolute line of the first row held in `pixels`, and how many rows are held. */
  private firstLine = 0;
  private heldLines = 0;
  private nextBand = 0;
  private nextMapBand = 0;
  /** Lines whose merged map rows were read into the region finder. */
  private finalLine = 0;
  /** One past the last line any merged tile covers. */
  private mapEndLine = 0;
  private readonly maps: MapWindow;
  private readonly regions: StreamingRegions;
  private readonly positions: LinePositions;
  private readonly segments: SegmentJudge;
  private ended = false;
  /** Crop margin in pixels while NG crops are wanted (keepCrops); null: no crops, no extra lines held. */
  private cropMargin: number | null = null;
  /** Held defects, oldest first, with their crop; null while it is not cut yet (its bottom margin is not final). */
  private readonly crops = new Map<LineDefect, DefectCrop | null>();
  private cropsSkipped = 0;

  constructor(options: TilerOptions) {
    this.o = { overlapAcrossPx: 0, overlapAlongLines: 0, minDefectAreaPx: 1, ...options };
    const o = this.o;
    this.starts = tileStarts(o.width, o.tileWidth, o.overlapAcrossPx);
    if (o.overlapAlongLines >= o.tileHeight || o.overlapAlongLines < 0) {
      throw new LinewatchError('LW_ERR_TILER_GEOMETRY', `overlap along the web ${o.overlapAlongLines} lines must be in [0, tile height ${o.tileHeight})`);
    }
    if (!(o.mmPerPixel > 0) || !(o.segmentLengthMm > 0)) {
      throw new LinewatchError('LW_ERR_TILER_GEOMETRY', 'mmPerPixel and segmentLengthMm must be positive');
    }
    this.stepLines = o.tileHeight - o.overlapAlongLines;
    this.pixels = new Uint8Array(o.width * o.channels * o.tileHeight * 2);
    this.maps = new MapWindow(o.width, o.tileHeight * 2);
    this.regions = new StreamingRegions(o.threshold);
    this.positions = new LinePositions(o.resolution);
    this.segments = new SegmentJudge(o.segmentLengthMm, o.minDefectAreaPx);
  }

  /**
   * NG crops on (`margin` pixels around each defect box) or off (null, the default). While on, the
   * strip pixels and merged map rows from the oldest defect not yet cut (less the margin) are held
   * a little longer, and rejected segments carry `crops`; off, nothing is copied or held.
   */
  keepCrops(margin: number | null): void {
    if (margin === this.cropMargin) return;
    this.cropMargin = margin;
    if (margin === null) this.crops.clear();
  }

  /**
   * The map threshold for the rows not yet read into the region finder: rules and models change
   * while a web runs, and the next rows are judged by the ones in force.
   */
  setThreshold(threshold: number): void {
    this.regions.setThreshold(threshold);
  }

  /** Defects that got no crop because MAX_HELD_CROPS were held. */
  skippedCrops(): number {
    return this.cropsSkipped;
  }

  /** Absolute line the next pushed buffer starts at (lines pushed so far). */
  nextLine(): number {
    return this.firstLine + this.heldLines;
  }

  /** Position of absolute `line` along the web, in mm (NaN with an encoder before its first count). */
  mmAt(line: number): number {
    return this.positions.mm(line);
  }

  /**
   * Appends a camera buffer of `lines` rows (row-major, tightly packed) to the strip and returns
   * the bands that became complete, their tiles views of the strip valid until the next push.
   * `encoderPos` is the encoder count at its first line.
   */
  push(data: Uint8Array, lines: number, encoderPos?: number): Band[] {
    const o = this.o;
    const rowBytes = o.width * o.channels;
    if (data.length < lines * rowBytes) {
      throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer of ${data.length} bytes holds fewer than ${lines} lines of ${rowBytes} bytes`);
    }
    // Lines no band and no crop needs any more go now, not at the end of the last push: the tiles
    // handed out then are views of these rows and were in use until now.
    this.releasePixels(Math.min(this.nextBand * this.stepLines, this.keepFrom()));
    if (encoderPos !== undefined) this.positions.anchor(this.firstLine + this.heldLines, encoderPos);
    const needBytes = (this.heldLines + lines) * rowBytes;
    if (needBytes > this.pixels.length) {
      const grown = new Uint8Array(needBytes * 2);
      grown.set(this.pixels.subarray(0, this.heldLines * rowBytes));
      this.pixels = grown;
    }
    this.pixels.set(data.subarray(0, lines * rowBytes), this.heldLines * rowBytes);
    this.heldLines += lines;
    const bands: Band[] = [];
    for (;;) {
      const line0 = this.nextBand * this.stepLines;
      if (line0 + o.tileHeight > this.firstLine + this.heldLines) break;
      bands.push(this.cutBand(line0));
    }
    return bands;
  }

  /**
   * The maps of band `band.index` (one per tile, tileHeight × tileWidth each, at tile resolution),
   * in band order. Returns the defects that became final and the segments that can be decided.
   * `maxes`, when given, is each map's highest value, or its highest value per row (tileHeight
   * values), measured where the map was made: rows under the threshold everywhere are then not
   * read again; without it the tiler measures each map's maximum.
   */
  addMaps(band: Band, maps: readonly Float32Array[], maxes?: readonly TileBound[]): MapsResult {
    const o = this.o;
    if (band.index !== this.nextMapBand) {
      throw new LinewatchError('LW_ERR_FRAME_INVALID', `maps of band ${band.index} arrived before band ${this.nextMapBand}`);
    }
    for (let i = 0; i < band.tiles.length; i++) {
      const map = maps[i];
      const tile = band.tiles[i]!;
      if (map === undefined || map.length !== o.tileWidth * o.tileHeight) {
        throw new LinewatchError('LW_ERR_FRAME_INVALID', `band ${band.index} tile ${i}: map of ${map?.length ?? 0} values, want ${o.tileWidth}×${o.tileHeight}`);
      }
      const max = maxes?.[i];
      if (max instanceof Float32Array && max.length !== o.tileHeight) {
        throw new LinewatchError('LW_ERR_FRAME_INVALID', `band ${band.index} tile ${i}: ${max.length} row maxima, want one per map row (${o.tileHeight})`);
      }
      if (max === undefined) this.maps.addTile(map, tile.x, tile.line, o.tileWidth, o.tileHeight);
      else this.maps.addTile(map, tile.x, tile.line, o.tileWidth, o.tileHeight, max);
      if (tile.line + o.tileHeight > this.mapEndLine) this.mapEndLine = tile.line + o.tileHeight;
    }
    this.nextMapBand++;
    // Rows before the next band's first line are covered by no later tile: final.
    return this.finalize(this.nextMapBand * this.stepLines);
  }

  /**
   * End of web: the lines past the last full band are cut into one last band pulled back to end at
   * the last line (more overlap); returns it (or null) — give its maps to addMaps, then call
   * `finish()` for the last defects and segment.
   */
  end(): Band | null {
    this.ended = true;
    const lastLine = this.firstLine + this.heldLines;
    const covered = this.nextBand === 0 ? 0 : (this.nextBand - 1) * this.stepLines + this.o.tileHeight;
    if (lastLine <= covered || lastLine < this.o.tileHeight) return null;
    const band = this.cutBand(lastLine - this.o.tileHeight);
    return band;
  }

  /** After end() (and the last band's maps): every remaining defect and the last segment. */
  finish(): MapsResult {
    if (!this.ended) throw new LinewatchError('LW_ERR_FRAME_INVALID', 'finish() before end()');
    const last = this.firstLine + this.heldLines;
    const r = this.finalize(last);
    const defects = [...r.defects];
    for (const region of this.regions.flush()) defects.push(this.toDefect(region));
    const tail = defects.slice(r.defects.length);
    for (const d of tail) this.segments.add(d);
    this.holdCrops(tail);
    return { defects, segments: [...r.segments, ...this.segments.flush().map((s) => this.withCrops(s))] };
  }

  /** A band's tiles as views of the strip: no pixel is copied (a consumer that needs them tight copies each once). */
  private cutBand(line0: number): Band {
    const o = this.o;
    const strideBytes = o.width * o.channels;
    const tiles: Tile[] = [];
    for (let i = 0; i < this.starts.length; i++) {
      const x = this.starts[i]!;
      tiles.push({ x, line: line0, data: tileView(this.pixels, o.width, o.channels, x, line0 - this.firstLine, o.tileWidth, o.tileHeight), strideBytes });
    }
    return { index: this.nextBand++, line: line0, tiles };
  }

  private releasePixels(line: number): void {
    const drop = line - this.firstLine;
    if (drop <= 0) return;
    const rowBytes = this.o.width * this.o.channels;
    const keep = this.heldLines - drop;
    if (keep > 0) this.pixels.copyWithin(0, drop * rowBytes, this.heldLines * rowBytes);
    this.heldLines = keep > 0 ? keep : 0;
    this.firstLine = line;
  }

  private finalize(upToLine: number): MapsResult {
    const upTo = upToLine < this.mapEndLine ? upToLine : this.mapEndLine;
    const defects: LineDefect[] = [];
    const regions = this.regions;
    const maps = this.maps;
    for (let line = this.finalLine; line < upTo; line++) {
      const closed = regions.mayHold(maps.rowBound(line)) ? regions.push(maps.row(line), line) : regions.pushEmpty(line);
      for (let k = 0; k < closed.length; k++) defects.push(this.toDefect(closed[k]!));
    }
    if (upTo > this.finalLine) this.finalLine = upTo;
    for (const d of defects) this.segments.add(d);
    this.holdCrops(defects);
    // A region still open may start in the current segment: decide only up to the oldest open start.
    const decided = this.segments.advance(this.positions.mm(this.regionsSafeLine())).map((s) => this.withCrops(s));
    this.maps.release(Math.min(this.finalLine, this.keepFrom()));
    return { defects, segments: decided };
  }

  /** First line still needed for crops (Infinity when crops are off). */
  private keepFrom(): number {
    const m = this.cropMargin;
    if (m === null) return Number.POSITIVE_INFINITY;
    let from = this.regionsSafeLine();
    for (const [d, c] of this.crops) if (c === null && d.y < from) from = d.y;
    return Math.max(from - m, this.finalLine - MAX_CROP_TILES * this.o.tileHeight);
  }

  /** New final defects: each one held for a crop (cut now if its lines are all final). */
  private holdCrops(defects: readonly LineDefect[]): void {
    if (this.cropMargin !== null) {
      for (const d of defects) {
        if (this.crops.size >= MAX_HELD_CROPS) {
          this.cropsSkipped++;
          continue;
        }
        this.crops.set(d, null);
      }
    }
    const m = this.cropMargin ?? 0;
    for (const [d, c] of this.crops) if (c === null && d.y + d.h + m <= this.finalLine) this.crops.set(d, this.cut(d));
  }

  /** A decided segment: a rejected one carries its defects' crops (cut now with the lines there are, if need be); held crops are let go. */
  private withCrops(s: SegmentDecision): SegmentDecision {
    if (this.crops.size === 0) return s;
    const out: DefectCrop[] = [];
    for (const d of s.defects) {
      if (!this.crops.has(d)) continue;
      const c = this.crops.get(d) ?? this.cut(d);
      this.crops.delete(d);
      if (c !== null) out.push(c);
    }
    return s.verdict === 'reject' && out.length > 0 ? { ...s, crops: out } : s;
  }

  /** Copies a defect's crop out of the held pixels and final map rows (null if none of its lines are held any more). */
  private cut(d: LineDefect): DefectCrop | null {
    const o = this.o;
    const from = Math.max(this.firstLine, this.maps.first);
    const to = Math.min(this.finalLine, this.firstLine + this.heldLines);
    const w = cropWindow(d, this.cropMargin ?? 0, o.width, from, to);
    if (w === null) return null;
    const pixels = new Uint8Array(w.width * w.height * o.channels);
    cutTile(this.pixels, o.width, o.channels, w.x, w.line - this.firstLine, w.width, w.height, pixels);
    const map = new Float32Array(w.width * w.height);
    for (let y = 0; y < w.height; y++) {
      const row = this.maps.row(w.line + y);
      for (let x = 0; x < w.width; x++) {
        const v = row[w.x + x]!;
        // −∞: no tile wrote here; NaN: the model gave no value (merge.ts).
        map[y * w.width + x] = v === Number.NEGATIVE_INFINITY || v !== v ? 0 : v;
      }
    }
    return { defect: d, ...w, pixels, map };
  }

  /** The first line that could still get a defect reported (start of the oldest open region, or the first non-final line). */
  private regionsSafeLine(): number {
    return this.regions.oldestOpenLine() ?? this.finalLine;
  }

  private toDefect(r: { x: number; line: number; w: number; h: number; area: number; maxScore: number }): LineDefect {
    const o = this.o;
    const alongMm = this.positions.mm(r.line);
    return {
      x: r.x,
      y: r.line,
      w: r.w,
      h: r.h,
      area: r.area,
      maxScore: r.maxScore,
      alongMm,
      acrossMm: r.x * o.mmPerPixel,
      lengthMm: this.positions.mm(r.line + r.h) - alongMm,
      widthMm: r.w * o.mmPerPixel,
    };
  }
}
