import { bytesPerPixel, type PixelFormat } from '../../frame.js';
import type { SampleCaps } from './binding.js';

/** GStreamer caps → the frame's pixel layout. Pure. */

const RAW_FORMATS: Record<string, PixelFormat> = {
  GRAY8: 'GRAY8',
  RGB: 'RGB',
  BGR: 'BGR',
  RGBA: 'RGBA',
  BGRA: 'BGRA',
};

const BAYER_FORMATS: Record<string, PixelFormat> = {
  rggb: 'BayerRG8',
  bggr: 'BayerBG8',
  grbg: 'BayerGR8',
  gbrg: 'BayerGB8',
};

export interface SampleLayout {
  readonly format: PixelFormat;
  readonly width: number;
  readonly height: number;
  /** Bytes per row: GStreamer pads each row of these formats to a multiple of 4 bytes. */
  readonly strideBytes: number;
}

/**
 * The layout of a sample, or a sentence saying why it cannot be a frame (encoded video, an
 * unsupported format: the launch string must convert to GRAY8/RGB/BGR/RGBA/BGRA or Bayer 8-bit).
 */
export function sampleLayout(caps: SampleCaps): SampleLayout | string {
  const { name, format, width, height } = caps;
  if (typeof width !== 'number' || typeof height !== 'number' || typeof format !== 'string') {
    return `caps ${String(name)} carry no width/height/format`;
  }
  const pf = name === 'video/x-bayer' ? BAYER_FORMATS[format] : name === 'video/x-raw' ? RAW_FORMATS[format] : undefined;
  if (pf === undefined) {
    return `caps ${String(name)},format=${format} are not a frame format (convert to GRAY8 or RGB before the appsink)`;
  }
  const row = width * bytesPerPixel(pf);
  return { format: pf, width, height, strideBytes: (row + 3) & ~3 };
}

/** The frame period the caps' `framerate` gives ('25/1' → 40 ms), in ns; null when absent or variable (0/1). */
export function framePeriodNs(caps: SampleCaps | null): bigint | null {
  const f = caps?.['framerate'];
  if (typeof f !== 'string') return null;
  const m = /^(\d+)\/(\d+)$/.exec(f);
  if (m === null || m[1] === '0') return null;
  return (BigInt(m[2]!) * 1_000_000_000n) / BigInt(m[1]!);
}
