import { LinewatchError } from '../../errors.js';

/**
 * Pure: where tiles start along one axis. Tiles of `tile` pixels step by `tile − overlap`; the
 * last one is pulled back to end exactly at `length`, so every pixel is covered and no tile hangs
 * over the edge (its overlap with the one before is then larger than asked).
 *
 * @example
 * tileStarts(1000, 392, 64) // [0, 328, 608]
 */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (!Number.isInteger(length) || !Number.isInteger(tile) || !Number.isInteger(overlap) || tile <= 0 || overlap < 0) {
    throw new LinewatchError('LW_ERR_TILER_GEOMETRY', `tile ${tile} px / overlap ${overlap} px over ${length} px: whole non-negative numbers expected`);
  }
  if (tile > length) throw new LinewatchError('LW_ERR_TILER_GEOMETRY', `tile of ${tile} px is wider than the strip (${length} px)`);
  if (overlap >= tile) throw new LinewatchError('LW_ERR_TILER_GEOMETRY', `overlap ${overlap} px must be smaller than the tile (${tile} px)`);
  const step = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; ; s += step) {
    if (s + tile >= length) {
      starts.push(length - tile);
      break;
    }
    starts.push(s);
  }
  return starts;
}

/**
 * Pure: the tile at (x0, row0 of `rows`) as a view of the strip window, without copying: its rows
 * lie `width × channels` bytes apart (the strip's stride). Valid while the window is unchanged.
 */
export function tileView(rows: Uint8Array, width: number, channels: number, x0: number, row0: number, tileW: number, tileH: number): Uint8Array {
  const rowBytes = width * channels;
  const from = row0 * rowBytes + x0 * channels;
  return rows.subarray(from, from + (tileH - 1) * rowBytes + tileW * channels);
}

/**
 * Pure: copies the tile at (x0, row0 of `rows`) out of a row-major strip window of `width` pixels ×
 * `channels` into `out` (tileW × tileH × channels, preallocated by the caller).
 */
export function cutTile(
  rows: Uint8Array,
  width: number,
  channels: number,
  x0: number,
  row0: number,
  tileW: number,
  tileH: number,
  out: Uint8Array,
): void {
  const rowBytes = width * channels;
  const tileRow = tileW * channels;
  for (let y = 0; y < tileH; y++) {
    const from = (row0 + y) * rowBytes + x0 * channels;
    out.set(rows.subarray(from, from + tileRow), y * tileRow);
  }
}
