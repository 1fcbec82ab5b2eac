import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * nvvidconv's pad templates as published for L4T r36 (fixtures/nvvidconv-r36.caps), and a stand-in
 * for it in real GStreamer: the same system-memory formats on each side, so a plan that hands it
 * a format it does not take fails to negotiate here as it would on a Jetson.
 */

type Side = { readonly NVMM: ReadonlySet<string>; readonly system: ReadonlySet<string> };
export interface NvvidconvCaps { readonly sink: Side; readonly src: Side }

const FIXTURE = fileURLToPath(new URL('../../../../../../test/pipeline/sources/gstreamer/fixtures/nvvidconv-r36.caps', import.meta.url));

export function nvvidconvCaps(): NvvidconvCaps {
  const sides: Record<string, Record<string, Set<string>>> = { sink: {}, src: {} };
  for (const line of readFileSync(FIXTURE, 'utf8').split('\n')) {
    const m = /^(sink|src) (NVMM|system) ([A-Za-z0-9_,]+)$/.exec(line.trim());
    if (!m?.[1] || !m[2] || !m[3]) continue;
    (sides[m[1]] ??= {})[m[2]] = new Set(m[3].split(','));
  }
  const side = (pad: string): Side => {
    const s = sides[pad];
    if (!s?.['NVMM'] || !s['system']) throw new Error(`${FIXTURE}: no ${pad} NVMM/system lines`);
    return { NVMM: s['NVMM'], system: s['system'] };
  };
  return { sink: side('sink'), src: side('src') };
}

/** A system-memory nvvidconv in gst-launch syntax: takes and gives exactly its published formats. */
export function nvvidconvStandIn(caps: NvvidconvCaps = nvvidconvCaps()): string {
  const list = (s: ReadonlySet<string>) => `video/x-raw,format={${[...s].join(',')}}`;
  return `capsfilter caps="${list(caps.sink.system)}" ! videoconvert ! videoscale ! capsfilter caps="${list(caps.src.system)}"`;
}
