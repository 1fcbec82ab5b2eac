import type { Frame } from '../frame.js';
import type { FrameGeometry } from '../geometry.js';
import type { CropWindow, LineDefect } from '../tiler/index.js';
import type { Verdict } from '../verdict.js';

/** What the NG-image sink (and the MQTT heatmap) get for a judged frame: the frame and its own map. */
export interface JudgedFrame {
  readonly frame: Frame;
  readonly verdict: Verdict;
  /** height × width map of this frame (a copy). */
  readonly map: Float32Array;
  readonly mapHeight: number;
  readonly mapWidth: number;
  readonly geometry: FrameGeometry;
  /**
   * Line-scan: this is the NG crop of one defect of a rejected segment (frame = the crop's pixels,
   * map = its merged map, geometry = the crop itself); see src/pipeline/operators/line-scan.ts.
   */
  readonly lineScan?: LineScanCropInfo;
}

/**
 * Where a line-scan NG crop lies: its segment, its defect (the tiler's LineDefect, with the box's
 * y/h named line/lines as in the file names) and the crop window.
 */
export type LineScanCropInfo = Pick<LineDefect, 'x' | 'w' | 'area' | 'maxScore' | 'alongMm' | 'acrossMm' | 'lengthMm' | 'widthMm'> & {
  readonly segment: number;
  readonly startMm: number;
  readonly endMm: number;
  /** Index of this defect among the segment's crops, and how many there are. */
  readonly defect: number;
  readonly defects: number;
  /** The defect box along the web: first absolute line, and lines. */
  readonly line: number;
  readonly lines: number;
  readonly crop: CropWindow;
};
