import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';

/**
 * The JSON Schemas in docs/mqtt.md, checked with ajv (a standard validator, as a PLC programmer's
 * tools would use): every schema must compile (each `$ref` resolves), and payloads must validate,
 * nested objects included. For our own tests the schemas are also closed (no property the doc does
 * not name), so that nothing linewatch sends goes undocumented; clients are told to ignore unknown
 * fields, so the published schemas stay open.
 */

export type DocSchema = Record<string, unknown> & { $id: string };

/** The JSON Schemas in docs/mqtt.md, by their `schema` constant (e.g. linewatch.reject/1). */
export function docSchemas(): Map<string, DocSchema> {
  const doc = readFileSync(new URL('../../../../../docs/mqtt.md', import.meta.url), 'utf8');
  const out = new Map<string, DocSchema>();
  for (const m of doc.matchAll(/```json\n([\s\S]*?)```/g)) {
    const s = JSON.parse(m[1] as string) as DocSchema;
    const name = ((s['properties'] as Record<string, { const?: string }> | undefined)?.['schema']?.const) ?? s.$id;
    out.set(name, s);
  }
  return out;
}

/** A deep copy with `additionalProperties: false` on every object schema that lists properties and says nothing else. */
export function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'const' || k === 'enum' ? v : closed(v);
  if (out['properties'] !== undefined && out['additionalProperties'] === undefined) out['additionalProperties'] = false;
  return out;
}

const compiled = new Map<DocSchema, ReturnType<Ajv2020['compile']>>();

/** Compiles a documented schema as published (throws when a $ref does not resolve). */
export function compilePublished(schema: DocSchema): ReturnType<Ajv2020['compile']> {
  return new Ajv2020({ strict: true, allErrors: true }).compile(schema);
}

/** The payload validates against the documented schema, closed at every depth. */
export function conforms(payload: unknown, schema: DocSchema): void {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = new Ajv2020({ strict: true, allErrors: true }).compile(closed(schema) as DocSchema);
    compiled.set(schema, validate);
  }
  assert.ok(validate(payload), `${schema.$id}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(payload)}`);
}
