import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

export interface DocSchema { $id: string; required?: string[]; properties: Record<string, { const?: string; enum?: unknown[]; type?: string | string[] }> }

/** The JSON Schemas in docs/mqtt.md, by $id. */
export function docSchemas(): Map<string, DocSchema> {
  const doc = readFileSync(new URL('../../../../../docs/mqtt.md', import.meta.url), 'utf8');
  const out = new Map<string, DocSchema>();
  for (const m of doc.matchAll(/```json\n([\s\S]*?)```/g)) {
    const s = JSON.parse(m[1] as string) as DocSchema;
    out.set(s.$id, s);
  }
  return out;
}

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

/** Required keys present, no undocumented keys, const/enum/type respected. */
export function conforms(payload: Record<string, unknown>, schema: DocSchema): void {
  for (const k of schema.required ?? []) assert.ok(k in payload, `${schema.$id}: ${k} is required but missing`);
  for (const [k, v] of Object.entries(payload)) {
    const p = schema.properties[k];
    assert.ok(p !== undefined, `${schema.$id}: ${k} is sent but not documented`);
    if (p.const !== undefined) assert.equal(v, p.const);
    if (p.enum !== undefined) assert.ok(p.enum.includes(v), `${schema.$id}: ${k}=${String(v)} not in the enum`);
    if (p.type !== undefined) {
      const allowed = Array.isArray(p.type) ? p.type : [p.type];
      const t = typeOf(v);
      assert.ok(allowed.includes(t) || (t === 'integer' && allowed.includes('number')), `${schema.$id}: ${k} is ${t}, documented ${allowed.join('|')}`);
    }
  }
}

