import type { Config } from './schema.js';

/**
 * Which configuration changes can be applied how:
 * - hot: between two frames, nothing restarted (decision rules, thresholds, sinks, publishing);
 * - warm: a new inference engine is built and warmed beside the old one, then swapped (model);
 * - cold: the camera pipelines are restarted (sources, ROIs, batching and queue sizes).
 * A field not listed is cold: when unsure, restart rather than apply half.
 */
export type ReloadClass = 'hot' | 'warm' | 'cold';

const ORDER: Record<ReloadClass | 'none', number> = { none: 0, hot: 1, warm: 2, cold: 3 };

/** Longest matching prefix wins. Paths are dot-joined; array indices are left out. */
const RULES: ReadonlyArray<readonly [string, ReloadClass]> = [
  ['version', 'hot'],
  ['decide', 'hot'],
  ['sinks', 'hot'],
  // The MQTT link applies its own section (reconnecting when the broker changes); the pipelines never restart for it.
  ['mqtt', 'hot'],
  ['model', 'warm'],
  ['cameras', 'cold'],
  ['inference', 'cold'],
];

/** The reload class of one changed field path (e.g. `decide.image.value`). */
export function classOfPath(path: string): ReloadClass {
  let best: ReloadClass = 'cold';
  let bestLen = -1;
  for (const [prefix, cls] of RULES) {
    if ((path === prefix || path.startsWith(`${prefix}.`)) && prefix.length > bestLen) {
      best = cls;
      bestLen = prefix.length;
    }
  }
  return best;
}

/** Dot paths of every leaf that differs between two JSON-like values. */
export function changedPaths(a: unknown, b: unknown, prefix = '', out: string[] = []): string[] {
  if (Object.is(a, b)) return out;
  const aObj = typeof a === 'object' && a !== null;
  const bObj = typeof b === 'object' && b !== null;
  if (aObj && bObj && Array.isArray(a) === Array.isArray(b)) {
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) {
        out.push(prefix);
        return out;
      }
      for (let i = 0; i < a.length; i++) changedPaths(a[i], b[i], prefix, out);
      return out;
    }
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
    for (const k of keys) changedPaths(ra[k], rb[k], prefix === '' ? k : `${prefix}.${k}`, out);
    return out;
  }
  out.push(prefix === '' ? '(root)' : prefix);
  return out;
}

export interface ReloadPlan {
  /** The strongest class among the changes; 'none' when nothing changed. */
  readonly level: ReloadClass | 'none';
  readonly changes: ReadonlyArray<{ readonly path: string; readonly class: ReloadClass }>;
}

/**
 * What applying `next` over `prev` takes.
 *
 * @example
 * planReload(cfg, { ...cfg, decide: { ...cfg.decide, failSafe: 'pass' } }) // → { level: 'hot', … }
 */
export function planReload(prev: Config, next: Config): ReloadPlan {
  const paths = [...new Set(changedPaths(prev, next))];
  let level: ReloadClass | 'none' = 'none';
  const changes = paths.map((path) => {
    const cls = classOfPath(path);
    if (ORDER[cls] > ORDER[level]) level = cls;
    return { path, class: cls };
  });
  return { level, changes };
}
