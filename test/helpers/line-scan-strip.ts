/**
 * The synthetic web the line-scan tests share: 56-px tiles (the tiny model's input) with 16 px of
 * overlap both ways — more than the border the model's centre crop leaves unseen —, 40-line
 * buffers, 1 mm per pixel and per line, segments of 100 mm, and bright discs like the fixture's
 * defects at known centres: inside one tile, across two tiles, across two buffers.
 */
export const WIDTH = 152;
export const BUFFER_LINES = 40;
export const BUFFERS = 10;
export const LINES = BUFFER_LINES * BUFFERS;
export const DISCS = [
  { cx: 22, cy: 60, r: 6 },
  { cx: 60, cy: 185, r: 6 },
  { cx: 120, cy: 240, r: 6 },
] as const;
/** The plain web's colour: about the good samples'. */
export const BG = [118, 110, 102] as const;

/** The strip as raw RGB, WIDTH × LINES. */
export function strip(): Buffer {
  const out = Buffer.alloc(WIDTH * LINES * 3);
  for (let y = 0; y < LINES; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const i = (y * WIDTH + x) * 3;
      let v = 0;
      for (const d of DISCS) if ((x - d.cx) ** 2 + (y - d.cy) ** 2 <= d.r * d.r) v = 1;
      out[i] = v ? 250 : BG[0];
      out[i + 1] = v ? 250 : BG[1];
      out[i + 2] = v ? 245 : BG[2];
    }
  }
  return out;
}

/** A camera reading `file` (the strip) in buffers of BUFFER_LINES lines, tiled by `bufferLines`. */
export function stripCamera(file: string, bufferLines: number) {
  return {
    id: 'web1',
    source: {
      type: 'gstreamer',
      format: 'RGB',
      input: {
        preset: 'launch',
        live: false,
        pipeline: `filesrc location=${file} blocksize=${WIDTH * BUFFER_LINES * 3} ! rawvideoparse width=${WIDTH} height=${BUFFER_LINES} format=rgb framerate=100/1 ! appsink name=sink`,
      },
    },
    lineScan: {
      bufferLines,
      overlapAcrossPx: 16,
      overlapAlongLines: 16,
      mmPerPixel: 1,
      resolution: { kind: 'fixed', mmPerLine: 1 },
      segmentLengthMm: 100,
      minDefectAreaPx: 4,
    },
  };
}
