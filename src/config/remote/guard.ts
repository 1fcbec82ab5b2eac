/**
 * Limits a remote update must meet before anything parses, merges or validates it: a payload
 * nested thousands of levels deep must be refused by a loop, not crash a recursive function, and
 * keys that name JavaScript's object machinery are refused wherever they appear.
 */

/** A configuration is at most ~8 levels deep (model.executionProviders[0].options.profile.min.x[0]); 32 leaves room. */
export const MAX_JSON_DEPTH = 32;

/** Keys refused anywhere in an update or a configuration file. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * How deeply `text` (JSON) nests objects and arrays, read character by character without parsing,
 * stopping as soon as `limit` is passed (then `limit + 1`). Brackets inside strings do not count.
 *
 * @example
 * jsonNesting('{"a":[1,{"b":"]"}]}', 32) // 3
 */
export function jsonNesting(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return max;
}

/**
 * The path of every forbidden key (`__proto__`, `constructor`, `prototype`) in a parsed JSON or
 * YAML value, walked with an explicit stack (no recursion), at most `max` paths.
 *
 * @example
 * forbiddenKeyPaths(JSON.parse('{"decide":{"__proto__":{"x":1}}}')) // ['decide.__proto__']
 */
export function forbiddenKeyPaths(value: unknown, max = 10): string[] {
  const found: string[] = [];
  const stack: Array<{ v: unknown; path: string }> = [{ v: value, path: '' }];
  while (stack.length > 0 && found.length < max) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]` });
      continue;
    }
    for (const k of Object.keys(v)) {
      const p = path === '' ? k : `${path}.${k}`;
      if (FORBIDDEN_KEYS.has(k)) found.push(p);
      else stack.push({ v: (v as Record<string, unknown>)[k], path: p });
    }
  }
  return found;
}
