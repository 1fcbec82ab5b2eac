import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_ACK_SCHEMA, CONFIG_STATE_SCHEMA } from '../../../src/io/mqtt/control-plane.js';
import { REJECT_SCHEMA, RESULT_SCHEMA, STATUS_SCHEMA, offlineWillPayload, rejectPayload, resultPayload } from '../../../src/io/mqtt/messages.js';
import type { Verdict } from '../../../src/pipeline/verdict.js';
import { closed, compilePublished, conforms, docSchemas } from './helpers/doc-schemas.js';

const verdict: Verdict = {
  seq: 7,
  cameraId: 'cam1',
  partId: 'p7',
  verdict: 'reject',
  score: 0.9,
  normScore: 0.7,
  defects: [{ x: 1, y: 2, w: 3, h: 4, area: 12, maxScore: 0.95 }],
  reasons: [{ code: 'SCORE_OVER_THRESHOLD', message: 'score' }],
  timings: { captureToInferMs: 1, inferMs: 2, postMs: 1, totalMs: 4 },
  modelVersion: 'm1',
  configVersion: '3',
  capturedAtMs: 1_700_000_000_000,
  meta: { encoderPos: 1234 },
};

test('every schema in docs/mqtt.md compiles in ajv as published: every $ref resolves, each schema stands alone', () => {
  const schemas = docSchemas();
  assert.deepEqual([...schemas.keys()].sort(), [CONFIG_ACK_SCHEMA, CONFIG_STATE_SCHEMA, REJECT_SCHEMA, RESULT_SCHEMA, STATUS_SCHEMA].sort());
  for (const s of schemas.values()) {
    assert.match(s.$id, /^urn:linewatch:schema:/, 'an absolute $id: relative ones cannot be resolved');
    compilePublished(s);
  }
});

test('real payloads validate, nested objects included; a wrong nested field is caught', () => {
  const schemas = docSchemas();
  conforms(JSON.parse(rejectPayload(verdict, 1_700_000_002_000)), schemas.get(REJECT_SCHEMA)!);
  conforms(JSON.parse(resultPayload(verdict, 1_700_000_002_000, false)), schemas.get(RESULT_SCHEMA)!);
  conforms(JSON.parse(resultPayload({ ...verdict, verdict: 'error', score: null, normScore: null, partId: undefined }, 1, true)), schemas.get(RESULT_SCHEMA)!);
  conforms(JSON.parse(offlineWillPayload()), schemas.get(STATUS_SCHEMA)!);
  // A verdict of a product (OneNIP changeover) names it on both; without one, product is null.
  const ofProduct = { ...verdict, product: 'bracket-b' };
  const reject = JSON.parse(rejectPayload(ofProduct, 1)) as { product: unknown };
  const result = JSON.parse(resultPayload(ofProduct, 1, false)) as { product: unknown };
  conforms(reject, schemas.get(REJECT_SCHEMA)!);
  conforms(result, schemas.get(RESULT_SCHEMA)!);
  assert.deepEqual([reject.product, result.product], ['bracket-b', 'bracket-b']);
  assert.equal((JSON.parse(rejectPayload(verdict, 1)) as { product: unknown }).product, null);
  assert.throws(() => conforms({ ...reject, product: 7 }, schemas.get(REJECT_SCHEMA)!), /product/);
  const bad = JSON.parse(resultPayload({ ...verdict, reasons: [{ code: 'X' } as never] }, 1, false)) as unknown;
  assert.throws(() => conforms(bad, schemas.get(RESULT_SCHEMA)!), /message/, 'a reason without its message is refused (through the $ref)');
  assert.equal((closed({ type: 'object', properties: { a: { type: 'object', properties: {} } } }) as { properties: { a: { additionalProperties: boolean } } }).properties.a.additionalProperties, false);
});

test('…/result names the frame by the source\'s own number (frameId, from meta.sourceOffset), null where the source numbers none', () => {
  const schema = docSchemas().get(RESULT_SCHEMA)!;
  const numbered = JSON.parse(resultPayload({ ...verdict, verdict: 'dropped', meta: { lost: 'upstream', sourceOffset: 65534 } }, 1, false)) as { frameId: unknown };
  conforms(numbered, schema);
  assert.equal(numbered.frameId, 65534);
  const unnumbered = JSON.parse(resultPayload(verdict, 1, false)) as { frameId: unknown };
  conforms(unnumbered, schema);
  assert.equal(unnumbered.frameId, null);
});
