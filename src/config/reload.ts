import type { Config } from './schema.js';

/**
 * Which configuration changes are applied how, and by whom:
 * - hot: between two frames, nothing restarted (decision rules, sinks, publishing options);
 * - warm: a new inference engine is built and warmed beside the old one, then swapped (model);
 * - cold: the camera pipelines are restarted, the new sources built and checked first;
 * - restart: accepted and persisted, in force from the next start of linewatch (the broker
 *   connection and what hangs on it: a running station does not cut its own line to the broker).
 * A field not listed is cold: when unsure, restart the pipelines rather than apply half.
 * docs/configuration.md's table is this list (test/config/reload-doc.test.ts compares them).
 */
export type ReloadClass = 'hot' | 'warm' | 'cold' | 'restart';

const ORDER: Record<ReloadClass | 'none', number> = { none: 0, hot: 1, restart: 2, warm: 3, cold: 4 };

export interface ReloadRule {
  /** Dot path prefix; array indices are left out. */
  readonly prefix: string;
  readonly class: ReloadClass;
  /** Who applies it (the section's owner that reports applied / restart needed / refused). */
  readonly owner: string;
}

/** Longest matching prefix wins. */
export const RELOAD_RULES: readonly ReloadRule[] = [
  { prefix: 'version', class: 'hot', owner: 'station (verdicts carry it from the next frame)' },
  { prefix: 'decide', class: 'hot', owner: 'station (rules swapped between two frames; line-scan cameras too)' },
  { prefix: 'sinks.console', class: 'hot', owner: 'console sink' },
  { prefix: 'sinks.ngImages', class: 'hot', owner: 'NG-image sink (a new one, its folder made and read, replaces the old)' },
  { prefix: 'mqtt.reject', class: 'hot', owner: 'MQTT publisher' },
  { prefix: 'mqtt.result', class: 'hot', owner: 'MQTT publisher' },
  { prefix: 'mqtt.heatmap', class: 'hot', owner: 'MQTT publisher (heatmaps rendered from the next frame)' },
  { prefix: 'mqtt.status', class: 'hot', owner: 'MQTT status reporter' },
  { prefix: 'mqtt.remoteConfig.requireSignature', class: 'hot', owner: 'remote configuration (from the next update)' },
  { prefix: 'mqtt.remoteConfig.publicKeys', class: 'hot', owner: 'remote configuration (keys parsed first, from the next update)' },
  { prefix: 'mqtt.remoteConfig.probationMs', class: 'hot', owner: 'remote configuration (from the next update)' },
  { prefix: 'mqtt.remoteConfig.rollbackAfterErrors', class: 'hot', owner: 'remote configuration (from the next update)' },
  { prefix: 'mqtt', class: 'restart', owner: 'MQTT link, Sparkplug, HTTP (the broker connection: next start)' },
  { prefix: 'model', class: 'warm', owner: 'station (new engine built and warmed beside the old one)' },
  { prefix: 'products', class: 'hot', owner: 'station (prompts read and prepared first; frames judged from then on use them)' },
  { prefix: 'cameras.product', class: 'hot', owner: 'station (changeover: from the next frame received; frames in flight keep their product)' },
  { prefix: 'cameras', class: 'cold', owner: 'station (new sources built and checked, then the pipelines restart)' },
  { prefix: 'inference', class: 'cold', owner: 'station (pipelines restart)' },
];

/** The rule for one changed field path (e.g. `decide.image.value`); unknown paths are cold. */
export function ruleOfPath(path: string): ReloadRule {
  let best: ReloadRule = { prefix: '', class: 'cold', owner: 'station (pipelines restart)' };
  for (const r of RELOAD_RULES) {
    if ((path === r.prefix || path.startsWith(`${r.prefix}.`)) && r.prefix.length > best.prefix.length) best = r;
  }
  return best;
}

/** The reload class of one changed field path. */
export function classOfPath(path: string): ReloadClass {
  return ruleOfPath(path).class;
}

/** Dot paths of every leaf that differs between two JSON-like values (iterative: no depth limit). */
export function changedPaths(a: unknown, b: unknown): string[] {
  const out: string[] = [];
  const stack: Array<{ a: unknown; b: unknown; prefix: string }> = [{ a, b, prefix: '' }];
  while (stack.length > 0) {
    const { a: x, b: y, prefix } = stack.pop()!;
    if (Object.is(x, y)) continue;
    const xObj = typeof x === 'object' && x !== null;
    const yObj = typeof y === 'object' && y !== null;
    if (xObj && yObj && Array.isArray(x) === Array.isArray(y)) {
      if (Array.isArray(x) && Array.isArray(y)) {
        if (x.length !== y.length) out.push(prefix === '' ? '(root)' : prefix);
        else for (let i = x.length - 1; i >= 0; i--) stack.push({ a: x[i], b: y[i], prefix });
        continue;
      }
      const rx = x as Record<string, unknown>;
      const ry = y as Record<string, unknown>;
      const keys = [...new Set([...Object.keys(rx), ...Object.keys(ry)])].reverse();
      for (const k of keys) stack.push({ a: rx[k], b: ry[k], prefix: prefix === '' ? k : `${prefix}.${k}` });
      continue;
    }
    out.push(prefix === '' ? '(root)' : prefix);
  }
  return out;
}

export interface ReloadChange {
  readonly path: string;
  readonly class: ReloadClass;
}

export interface ReloadPlan {
  /** The strongest class among the changes; 'none' when nothing changed. */
  readonly level: ReloadClass | 'none';
  readonly changes: readonly ReloadChange[];
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

/** Whether any change is of this class. */
export function hasClass(plan: ReloadPlan, cls: ReloadClass): boolean {
  return plan.changes.some((c) => c.class === cls);
}

/** The changes whose path starts with `prefix` (a section owner's share of a plan). */
export function changesUnder(plan: ReloadPlan, prefix: string): ReloadChange[] {
  return plan.changes.filter((c) => c.path === prefix || c.path.startsWith(`${prefix}.`));
}

/** docs/configuration.md's reload table, row by row, from {@link RELOAD_RULES} (a field and everything under it; anything else is cold). */
export function reloadTableRows(): string[] {
  return RELOAD_RULES.map((r) => `| \`${r.prefix}\` | ${r.class} | ${r.owner} |`);
}
