import type { z } from 'zod';

/**
 * "Did you mean" for configuration typos: a key the schema does not know is refused, and when a
 * known key is a few edits away it is named, so `deadlinMs` says `did you mean "deadlineMs"?`.
 */

/**
 * Levenshtein distance (insertions, deletions, substitutions, each 1), two rows of memory.
 *
 * @example
 * editDistance('kitten', 'sitting') // 3
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = new Array<number>(b.length + 1);
  let cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const cost = ca === b.charCodeAt(j - 1) ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length]!;
}

/**
 * The known name closest to `key` when it is a plausible typo (at most a third of the key's
 * letters changed, at least one, case ignored), else null.
 *
 * @example
 * nearestName('deadlinMs', ['qos', 'deadlineMs']) // 'deadlineMs'
 */
export function nearestName(key: string, known: Iterable<string>): string | null {
  const k = key.toLowerCase();
  const limit = Math.max(1, Math.floor(key.length / 3));
  let best: string | null = null;
  let bestD = Infinity;
  for (const name of known) {
    const d = editDistance(k, name.toLowerCase());
    if (d <= limit && d < bestD) {
      best = name;
      bestD = d;
    }
  }
  return best;
}

/** The keys an object schema declares, read from the schema that raised the issue. */
function shapeKeys(inst: unknown): string[] {
  const def = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def;
  return def?.shape !== undefined ? Object.keys(def.shape) : [];
}

/** Separates the per-key parts of an unknown-keys message, so that formatIssues can give each key its own line. */
export const KEY_PART_SEPARATOR = '; ';

/** `unknown key` with the nearest known one, for one key. */
export function unknownKeyMessage(key: string, known: Iterable<string>): string {
  const near = nearestName(key, known);
  return near === null ? 'unknown key' : `unknown key (did you mean "${near}"?)`;
}

/**
 * A zod error map (pass as `safeParse(x, { error: didYouMeanErrorMap })`): unknown keys are named
 * one by one, each with the nearest known key when there is one; other issues keep zod's message.
 */
export const didYouMeanErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== 'unrecognized_keys') return undefined;
  const known = shapeKeys(issue.inst);
  return issue.keys.map((key) => `"${key}": ${unknownKeyMessage(key, known)}`).join(KEY_PART_SEPARATOR);
};
