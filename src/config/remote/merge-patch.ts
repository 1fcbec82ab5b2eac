/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` deletes a key, anything else
 * (arrays included) replaces. Pure; neither argument is modified. Iterative (an explicit stack,
 * not recursion), so no nesting depth can overflow the call stack; callers still bound the depth
 * first (guard.ts) because validation walks the result.
 *
 * @example
 * applyMergePatch({ a: 1, b: { c: 2, d: 3 } }, { b: { c: null, e: 4 } }) // { a: 1, b: { d: 3, e: 4 } }
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const root: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  // Each entry merges `patch` into `out`, a fresh copy already placed in its parent.
  const stack: Array<{ out: Record<string, unknown>; patch: Record<string, unknown> }> = [{ out: root, patch }];
  while (stack.length > 0) {
    const { out, patch: p } = stack.pop()!;
    for (const key of Object.keys(p)) {
      const value = p[key];
      if (value === null) {
        delete out[key];
      } else if (isPlainObject(value)) {
        const base = Object.prototype.hasOwnProperty.call(out, key) ? out[key] : undefined;
        const child: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
        define(out, key, child);
        stack.push({ out: child, patch: value });
      } else {
        define(out, key, value);
      }
    }
  }
  return root;
}

/** Sets an own data property, even for a key like `__proto__` (plain assignment would call the setter). */
function define(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
