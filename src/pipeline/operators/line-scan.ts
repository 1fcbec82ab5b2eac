import { concat, concatMap, defer, filter, finalize, map, mergeAll, type OperatorFunction } from 'rxjs';
import { LinewatchError } from '../../errors.js';
import { rawPixelThreshold } from '../decide.js';
import { captureTimeNow, type Frame, type PixelFormat } from '../frame.js';
import type { FrameGeometry } from '../geometry.js';
import { errorVerdict, linesLost, lostFrameVerdict, segmentVerdict, type FrameContext, type Inspector, type JudgedFrame, type LineScanCropInfo } from '../inspect/index.js';
import type { LossReason, LostFrame } from '../source.js';
import { LineScanTiler, type Band, type DefectCrop, type MapsResult, type SegmentDecision } from '../tiler/index.js';
import { PartMap, pitchPartId } from '../tiler/parts.js';
import { productOf } from '../products/changeover.js';
import type { LineScanConfig } from '../tiler/schema.js';
import type { Verdict } from '../verdict.js';
import type { RoomGate } from './bounded-batch.js';

/**
 * Line-scan camera → one verdict per decided segment of web. Each buffer is stitched into the
 * strip; each band of tiles that became complete is one model batch; the tile maps go back into
 * strip coordinates and the segments the strip is final past come out as verdicts, numbered by
 * their own gap-free `seq` (the buffers' seqs are not the verdicts'). A buffer that cannot be used
 * (wrong size, encoded) is one `error` verdict and is left out of the strip.
 *
 * Buffers wait in a bounded queue: a live camera (which cannot wait) that outruns the judge has
 * its newest buffers left out once `maxQueuedBuffers` wait, each one handed to `onOverflow`
 * (counted and logged by the station). A lost buffer — left out here or lost by the source (its
 * `LostFrame`, in stream order) — is a stretch of web never seen: the segment it falls in is
 * judged `dropped` by failSafe with reason LINES_LOST and the lost buffers' seqs (a rejected
 * segment stays rejected, with that reason added). The strip itself closes over the gap: lines
 * are counted as delivered, so without an encoder the positions after a loss run short by the
 * lost lines.
 */

export interface LineScanJudgeOptions {
  readonly cameraId: string;
  readonly config: LineScanConfig;
  /** Called with each verdict's seq as it is decided, before it is emitted (station counters). */
  readonly onSegment: (seq: number) => void;
  /** Lossless sources wait on it while `maxQueuedBuffers` buffers wait to be judged. */
  readonly gate?: RoomGate;
  /** Buffers waiting (the one being judged included) before a lossless source is held back and a live one's are left out. Default 2. */
  readonly maxQueuedBuffers?: number;
  /** A buffer left out because the queue was full (a live camera outrunning the judge). */
  readonly onOverflow?: (frame: Frame) => void;
}

/**
 * Buffers that never reached the strip, seqs `first`…`first + count − 1`: lost by the source (one
 * at a time), or left out here (`queue-full`, a run of them between two buffers taken).
 */
export interface LostBuffers {
  readonly first: number;
  count: number;
  readonly reason: LossReason | 'queue-full';
}

/** Lost buffers at one place of the strip (the line where the next buffer was stitched). */
interface Gap {
  readonly atMm: number;
  /** Runs of seqs, [first, last] each. */
  readonly runs: Array<[number, number]>;
  readonly reasons: Set<string>;
}

const LOSS_WHY: Record<LostBuffers['reason'], string> = {
  'queue-full': 'the line-scan judge fell behind the camera: its queue was full',
  'appsink-overflow': 'dropped by the appsink: linewatch fell behind the camera',
  upstream: 'lost before linewatch',
  restart: 'discarded at a camera restart',
  fault: 'discarded when the camera stream failed',
  'unreadable-file': 'an unreadable file',
};

/** Strip pixel formats the tiler cuts (1 or 3 bytes a pixel). */
function channelsOf(format: PixelFormat): 1 | 3 | null {
  return format === 'GRAY8' ? 1 : format === 'RGB' || format === 'BGR' ? 3 : null;
}

/**
 * For each tile pixel, the index of the map pixel over it (−1 where the model's crop left it out).
 * Nearest map pixel: the map is at most a few pixels coarser than the tile.
 */
function tileToMapIndex(g: FrameGeometry, mapWidth: number, mapHeight: number, tileWidth: number, tileHeight: number): Int32Array {
  const lut = new Int32Array(tileWidth * tileHeight);
  for (let y = 0; y < tileHeight; y++) {
    const v = Math.floor((((y + 0.5) * g.resize.height) / g.roi.height - g.crop.y) * (mapHeight / g.crop.height));
    for (let x = 0; x < tileWidth; x++) {
      const u = Math.floor((((x + 0.5) * g.resize.width) / g.roi.width - g.crop.x) * (mapWidth / g.crop.width));
      lut[y * tileWidth + x] = u >= 0 && u < mapWidth && v >= 0 && v < mapHeight ? v * mapWidth + u : -1;
    }
  }
  return lut;
}

/** Pixels around each defect box in its NG crop (clamped to the strip). */
export const NG_CROP_MARGIN_PX = 32;

export class LineScanJudge {
  private readonly inspector: Inspector;
  private readonly o: LineScanJudgeOptions;
  /** Tiles are cut already (no ROI); their extras are their camera's. Set by the first buffer. */
  private tileContext: FrameContext = { roi: undefined, maxFramePixels: 0, extras: null };
  private readonly tileContextOf: () => FrameContext;
  private tiler: LineScanTiler | null = null;
  private channels: 1 | 3 = 1;
  private format: PixelFormat = 'GRAY8';
  private tileWidth = 0;
  /** The strip's width (pixels across), set by the first buffer: a line-scan prompt must be as wide. */
  private stripWidth = 0;
  private tileHeight = 0;
  private lut: Int32Array | null = null;
  private seq = 0;
  /** The newest buffer used: its capture time stamps the verdicts it completes. */
  private last: Frame | null = null;
  /** Parts named by the buffers' PLC triggers (`lineScan.parts.from: triggers`), else null. */
  private readonly parts: PartMap | null;
  /** Lost buffers not yet charged to a segment verdict, in strip order. */
  private gaps: Gap[] = [];

  constructor(inspector: Inspector, options: LineScanJudgeOptions) {
    this.inspector = inspector;
    this.o = options;
    this.tileContextOf = () => this.tileContext;
    this.parts = options.config.parts?.from === 'triggers' ? new PartMap() : null;
  }

  /** One camera buffer in → the verdicts of the segments it completed. */
  async push(frame: Frame): Promise<Verdict[]> {
    let bands: Band[];
    try {
      bands = this.stitch(frame);
    } catch (err) {
      return [this.error(frame, err)];
    }
    this.last = frame;
    return this.inferBands(bands);
  }

  /**
   * A buffer that will never come (lost by the source, or left out of a full queue), in stream
   * order: its lines are missing where the next buffer is stitched, and the segment there says so.
   */
  lost(b: LostBuffers): void {
    const tiler = this.tiler;
    const atMm = tiler === null ? 0 : tiler.mmAt(tiler.nextLine());
    const last = this.gaps[this.gaps.length - 1];
    const gap: Gap = last !== undefined && last.atMm === atMm ? last : { atMm, runs: [], reasons: new Set<string>() };
    if (gap !== last) this.gaps.push(gap);
    const end = b.first + b.count - 1;
    const run = gap.runs[gap.runs.length - 1];
    if (run !== undefined && run[1] + 1 === b.first) run[1] = end;
    else gap.runs.push([b.first, end]);
    gap.reasons.add(LOSS_WHY[b.reason]);
  }

  /** End of the web: the last partial band and the last segment (which takes any loss still uncharged). */
  async end(): Promise<Verdict[]> {
    const tiler = this.tiler;
    const out: Verdict[] = [];
    if (tiler !== null) {
      const band = tiler.end();
      if (band !== null) out.push(...(await this.inferBands([band])));
      const r = tiler.finish();
      r.segments.forEach((s, i) => out.push(this.segmentVerdict(s, i === r.segments.length - 1)));
    }
    // Buffers lost after the last segment was decided (or before any buffer came): web of its own
    // that nobody saw, one `dropped` verdict.
    const tail = this.lostIn(Number.POSITIVE_INFINITY, true);
    if (tail !== undefined) out.push(this.lostTail(tail));
    return out;
  }

  private lostTail(lost: { runs: Array<[number, number]>; why: string }): Verdict {
    const seq = this.seq++;
    this.o.onSegment(seq);
    const deps = this.inspector.deps;
    const startMm = this.tiler === null ? 0 : this.tiler.mmAt(this.tiler.nextLine());
    const l = linesLost(`end of the web (from ${startMm} mm)`, { ...lost, bufferLines: this.o.config.bufferLines });
    const capturedAt = this.last?.capturedAt ?? captureTimeNow();
    return lostFrameVerdict({ seq, cameraId: this.o.cameraId, capturedAt, meta: { startMm, ...l.meta } }, l.reason, deps.rules(), deps.model().bundle.manifest.version);
  }

  private stitch(frame: Frame): Band[] {
    const img = frame.image;
    if (img.kind !== 'raw') throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer ${frame.seq}: encoded images cannot be stitched; deliver raw lines`);
    const ch = channelsOf(img.format);
    if (ch === null) throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer ${frame.seq}: format ${img.format} is not GRAY8, RGB or BGR`);
    const c = this.o.config;
    if (img.height !== c.bufferLines) throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer ${frame.seq}: ${img.height} lines, lineScan.bufferLines is ${c.bufferLines}`);
    if (img.strideBytes !== undefined && img.strideBytes !== img.width * ch) {
      throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer ${frame.seq}: padded rows (stride ${img.strideBytes}) are not supported`);
    }
    const deps = this.inspector.deps;
    if (this.tiler === null) {
      const m = deps.model().bundle.manifest;
      const camera = deps.frameContext(frame);
      this.tileContext = { roi: undefined, maxFramePixels: camera.maxFramePixels, extras: camera.extras };
      this.channels = ch;
      this.format = img.format;
      this.tileWidth = c.tileWidth ?? m.input.width;
      this.stripWidth = img.width;
      this.tileHeight = c.tileHeight ?? m.input.height;
      this.tiler = new LineScanTiler({
        width: img.width,
        channels: ch,
        tileWidth: this.tileWidth,
        tileHeight: this.tileHeight,
        overlapAcrossPx: c.overlapAcrossPx,
        overlapAlongLines: c.overlapAlongLines,
        threshold: rawPixelThreshold(deps.rules().decide, m.calibration.pixel),
        mmPerPixel: c.mmPerPixel,
        resolution: c.resolution,
        segmentLengthMm: c.segmentLengthMm,
        minDefectAreaPx: c.minDefectAreaPx,
      });
    } else if (ch !== this.channels || img.format !== this.format) {
      throw new LinewatchError('LW_ERR_FRAME_INVALID', `line-scan buffer ${frame.seq}: format ${img.format} after ${this.format}`);
    }
    // NG crops only while someone takes judged frames (the NG image sink, MQTT heatmaps): otherwise
    // the tiler holds and copies nothing more than it needs.
    this.tiler.keepCrops(deps.judged() !== null ? NG_CROP_MARGIN_PX : null);
    const enc = frame.meta.encoderPos;
    const firstLine = this.tiler.nextLine();
    const bands = this.tiler.push(img.data, c.bufferLines, typeof enc === 'number' ? enc : undefined);
    // The buffer's trigger names the part under its first line (placed after its encoder anchor).
    const partId = frame.meta.partId;
    if (this.parts !== null && typeof partId === 'string') this.parts.add(this.tiler.mmAt(firstLine), partId);
    return bands;
  }

  /** The part a segment belongs to: the one its middle lies in. */
  private partOf(s: SegmentDecision): string | undefined {
    const p = this.o.config.parts;
    if (p === undefined) return undefined;
    const mid = (s.startMm + s.endMm) / 2;
    if (p.from === 'pitch') return pitchPartId(mid, { pitchMm: p.pitchMm ?? this.o.config.segmentLengthMm, prefix: p.prefix, first: p.first });
    return this.parts!.at(mid);
  }

  private async inferBands(bands: readonly Band[]): Promise<Verdict[]> {
    const out: Verdict[] = [];
    for (let b = 0; b < bands.length; b++) {
      const band = bands[b]!;
      let r: MapsResult;
      try {
        r = await this.inferBand(band);
      } catch (err) {
        // The strip goes on with an empty map for this band (its lines cannot be judged): one
        // `error` verdict says which lines, and failSafe decides what the line does with them.
        out.push(this.error(this.last!, err, { band: band.index, fromLine: band.line, toLine: band.line + this.tileHeight }));
        const t = this.tiler!;
        this.unjudged.push({ fromMm: t.mmAt(band.line), toMm: t.mmAt(band.line + this.tileHeight), band: band.index });
        r = t.addMaps(band, this.zeroMaps(band.tiles.length));
      }
      for (const s of r.segments) out.push(this.segmentVerdict(s));
    }
    return out;
  }

  private zeroMaps(n: number): Float32Array[] {
    const maps: Float32Array[] = [];
    for (let i = 0; i < n; i++) maps.push(new Float32Array(this.tileWidth * this.tileHeight));
    return maps;
  }

  /** One band = one batch through the inspector's map stage. Throws when a tile cannot be mapped. */
  private async inferBand(band: Band): Promise<MapsResult> {
    const tiler = this.tiler!;
    const slot = this.inspector.deps.model();
    slot.inFlight++;
    try {
      const n = band.tiles.length;
      const tiles: Frame[] = [];
      // A prompted model: each tile is of the product of the buffer that completed its band, and
      // is judged against the good tile at its own place across (products/strip-prompts.ts).
      const product = this.last === null ? undefined : productOf(this.last);
      const layout = { width: this.stripWidth, tileWidth: this.tileWidth, tileHeight: this.tileHeight };
      for (let i = 0; i < n; i++) {
        const t = band.tiles[i]!;
        tiles.push({
          seq: band.index,
          cameraId: this.o.cameraId,
          capturedAt: this.last!.capturedAt,
          // A view of the strip, rows strideBytes apart: preprocess reads it where it lies (sent to a worker, its rows are copied once).
          image: { kind: 'raw', format: this.format, width: this.tileWidth, height: this.tileHeight, strideBytes: t.strideBytes, data: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) },
          meta: product === undefined ? {} : { product, stripTile: { layout, x: t.x } },
        });
      }
      const batch = await this.inspector.map(slot, tiles, this.tileContextOf);
      if (batch.maps === null || batch.mapped.length !== n) {
        const failed = batch.failures.find((f) => f !== null);
        throw failed?.error ?? new LinewatchError('LW_ERR_SESSION_RUN', `line-scan band ${band.index}: no map`);
      }
      const { maps, height, width } = batch.maps;
      const tw = this.tileWidth;
      const th = this.tileHeight;
      if (this.lut === null) this.lut = tileToMapIndex(batch.geometry[0]!, width, height, tw, th);
      const lut = this.lut;
      const plane = height * width;
      const tileMaps: Float32Array[] = [];
      // Each tile map's highest value per row, taken while it is made: the tiler then skips
      // reading the rows that no tile over them could mark — most rows of a good web, and of a
      // bad one all but those a defect crosses.
      const maxes: Float32Array[] = [];
      for (let k = 0; k < n; k++) {
        const tm = new Float32Array(tw * th);
        const rowMax = new Float32Array(th);
        const base = k * plane;
        for (let y = 0, i = 0; y < th; y++) {
          let max = Number.NEGATIVE_INFINITY;
          for (const end = i + tw; i < end; i++) {
            const j = lut[i]!;
            const v = j < 0 ? 0 : maps[base + j]!;
            tm[i] = v;
            if (v > max) max = v;
          }
          rowMax[y] = max;
        }
        tileMaps.push(tm);
        maxes.push(rowMax);
      }
      // The rules and the model in force now, not those of the first buffer: a hot change or a model swap applies from this band on.
      tiler.setThreshold(rawPixelThreshold(this.inspector.deps.rules().decide, slot.bundle.manifest.calibration.pixel));
      return tiler.addMaps(band, tileMaps, maxes);
    } finally {
      slot.inFlight--;
    }
  }

  /** Lost buffers placed before `endMm` (all of them for the web's last segment), taken. */
  private lostIn(endMm: number, last: boolean): { runs: Array<[number, number]>; why: string } | undefined {
    let n = 0;
    while (n < this.gaps.length && (last || this.gaps[n]!.atMm < endMm)) n++;
    if (n === 0) return undefined;
    const taken = this.gaps.splice(0, n);
    const why = new Set<string>();
    for (const g of taken) for (const r of g.reasons) why.add(r);
    return { runs: taken.flatMap((g) => g.runs), why: [...why].join('; ') };
  }

  /** Bands that went through no model, as web positions, until every segment over them is decided. */
  private unjudged: Array<{ readonly fromMm: number; readonly toMm: number; readonly band: number }> = [];

  /** The failed bands under `s` (for its verdict's reason), forgetting those that end inside it. */
  private unjudgedIn(s: SegmentDecision, lastOfWeb: boolean): string | undefined {
    const over = this.unjudged.filter((u) => u.fromMm < s.endMm && u.toMm > s.startMm);
    this.unjudged = lastOfWeb ? [] : this.unjudged.filter((u) => u.toMm > s.endMm);
    if (over.length === 0) return undefined;
    return `band(s) ${over.map((u) => u.band).join(', ')} could not be judged (see their error verdicts), their lines not inspected`;
  }

  private segmentVerdict(s: SegmentDecision, lastOfWeb = false): Verdict {
    const seq = this.seq++;
    this.o.onSegment(seq);
    const deps = this.inspector.deps;
    const m = deps.model().bundle.manifest;
    const lost = this.lostIn(s.endMm, lastOfWeb);
    const unjudged = this.unjudgedIn(s, lastOfWeb);
    const verdict = segmentVerdict(
      this.o.cameraId,
      seq,
      this.partOf(s),
      s,
      this.last!,
      m.calibration.pixel,
      deps.rules(),
      m.version,
      lost === undefined ? undefined : { ...lost, bufferLines: this.o.config.bufferLines },
      unjudged,
    );
    if (s.crops !== undefined) this.offerCrops(verdict, s, s.crops);
    return verdict;
  }

  /** One judged frame per defect crop of a rejected segment, to whoever takes them (NG image sink). */
  private offerCrops(verdict: Verdict, s: SegmentDecision, crops: readonly DefectCrop[]): void {
    const take = this.inspector.deps.judged();
    if (take === null) return;
    const last = this.last!;
    for (let k = 0; k < crops.length; k++) {
      const c = crops[k]!;
      const d = c.defect;
      // Sent in the camera's own order: the sinks turn BGR into RGB where they draw it.
      const pixels = Buffer.from(c.pixels.buffer, c.pixels.byteOffset, c.pixels.byteLength);
      const size = { width: c.width, height: c.height };
      const whole = { x: 0, y: 0, ...size };
      const lineScan: LineScanCropInfo = {
        segment: s.index,
        startMm: s.startMm,
        endMm: s.endMm,
        defect: k,
        defects: crops.length,
        line: d.y,
        lines: d.h,
        x: d.x,
        w: d.w,
        area: d.area,
        maxScore: d.maxScore,
        alongMm: d.alongMm,
        acrossMm: d.acrossMm,
        lengthMm: d.lengthMm,
        widthMm: d.widthMm,
        crop: { x: c.x, line: c.line, width: c.width, height: c.height },
      };
      const j: JudgedFrame = {
        frame: {
          seq: verdict.seq,
          cameraId: this.o.cameraId,
          capturedAt: last.capturedAt,
          image: { kind: 'raw', format: this.format, ...size, data: pixels },
          meta: {},
        },
        verdict,
        map: c.map,
        mapHeight: c.height,
        mapWidth: c.width,
        geometry: { source: size, roi: whole, resize: size, crop: whole },
        lineScan,
      };
      take(j);
    }
  }

  private error(frame: Frame, err: unknown, where: Readonly<Record<string, number>> = {}): Verdict {
    const seq = this.seq++;
    this.o.onSegment(seq);
    const deps = this.inspector.deps;
    return errorVerdict(frame, err, deps.rules(), deps.model().bundle.manifest.version, { seq, meta: { ...frame.meta, bufferSeq: frame.seq, ...where } });
  }
}

/**
 * RxJS operator: camera buffers (and the source's lost buffers, in stream order) → segment
 * verdicts, buffers processed one at a time in order, at most `maxQueuedBuffers` held.
 */
export function lineScanVerdicts(inspector: Inspector, options: LineScanJudgeOptions): OperatorFunction<Frame | LostFrame, Verdict> {
  return (items$) => {
    const judge = new LineScanJudge(inspector, options);
    const gate = options.gate;
    const max = options.maxQueuedBuffers ?? 2;
    /** Buffers taken and not yet judged (pixels held). */
    let queued = 0;
    /** The run of left-out buffers still waiting in the queue, which the next one left out joins. */
    let overflow: LostBuffers | null = null;
    gate?.attach(() => queued < max);
    const judged = (item: Frame | LostBuffers): Promise<Verdict[]> => {
      if (!isFrame(item)) {
        // In order behind the buffers taken before it, so the gap lands where its lines are missing.
        if (item === overflow) overflow = null;
        judge.lost(item);
        return Promise.resolve([]);
      }
      return judge.push(item).finally(() => {
        queued--;
        gate?.notify();
      });
    };
    // On arrival (concatMap calls its function only when the item's turn comes). A lossless source
    // waits on the gate and never finds the queue full; a live camera does not wait: its buffer is
    // left out and counted, and a loss without pixels takes its place in the queue — one per run
    // of left-out buffers, so that what waits stays within `max` buffers and `max + 1` runs.
    const admit = (item: Frame | LostFrame): Frame | LostBuffers | null => {
      if (!isFrame(item)) return { first: item.seq, count: 1, reason: item.reason };
      if (queued < max) {
        queued++;
        overflow = null;
        return item;
      }
      options.onOverflow?.(item);
      if (overflow !== null && overflow.first + overflow.count === item.seq) {
        overflow.count++;
        return null;
      }
      overflow = { first: item.seq, count: 1, reason: 'queue-full' };
      return overflow;
    };
    return concat(
      items$.pipe(
        map(admit),
        filter((item): item is Frame | LostBuffers => item !== null),
        concatMap(judged),
        finalize(() => gate?.release()),
      ),
      defer(() => judge.end()),
    ).pipe(mergeAll());
  };
}

function isFrame(item: Frame | LostBuffers | LostFrame): item is Frame {
  return 'image' in item;
}
