import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * A second, independent reading of Sparkplug B payloads: @bufbuild/protobuf's wire reader and the
 * field numbers of the Sparkplug B 3.0 specification (Payload and Payload.Metric), nothing shared
 * with sparkplug-payload, which linewatch encodes with. A datatype absent on the wire stays absent.
 */

export interface DecodedMetric {
  name?: string;
  alias?: bigint;
  timestamp?: bigint;
  datatype?: number;
  value?: number | bigint | boolean | string;
}

export interface DecodedPayload {
  timestamp?: bigint;
  seq?: bigint;
  metrics: DecodedMetric[];
}

/** Sparkplug B datatype numbers used by linewatch. */
export const DATATYPE = { Int64: 4, UInt64: 8, Double: 10, Boolean: 11, String: 12 } as const;

function readMetric(bytes: Uint8Array): DecodedMetric {
  const r = new BinaryReader(bytes);
  const m: DecodedMetric = {};
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1: m.name = r.string(); break;
      case 2: m.alias = BigInt(r.uint64()); break;
      case 3: m.timestamp = BigInt(r.uint64()); break;
      case 4: m.datatype = r.uint32(); break;
      case 10: m.value = r.uint32(); break;
      case 11: m.value = BigInt(r.uint64()); break;
      case 12: m.value = r.float(); break;
      case 13: m.value = r.double(); break;
      case 14: m.value = r.bool(); break;
      case 15: m.value = r.string(); break;
      default: r.skip(wire as WireType);
    }
  }
  return m;
}

export function decodeSparkplugB(bytes: Uint8Array): DecodedPayload {
  const r = new BinaryReader(bytes);
  const p: DecodedPayload = { metrics: [] };
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1: p.timestamp = BigInt(r.uint64()); break;
      case 2: p.metrics.push(readMetric(r.bytes())); break;
      case 3: p.seq = BigInt(r.uint64()); break;
      default: r.skip(wire as WireType);
    }
  }
  return p;
}

/** A metric's value as a number (UInt64 and friends as bigint on the wire), or as it is. */
export function metricValue(p: DecodedPayload, name: string): unknown {
  const v = p.metrics.find((m) => m.name === name)?.value;
  return typeof v === 'bigint' ? Number(v) : v;
}

/** An NCMD `Node Control/Rebirth = true` with no datatype, as Sparkplug 3.0 recommends (hand-encoded). */
export function rebirthWithoutDatatype(): Uint8Array {
  const name = new TextEncoder().encode('Node Control/Rebirth');
  const metric = [0x0a, name.length, ...name, 0x70, 0x01]; // field 1 string, field 14 varint true
  return Uint8Array.from([0x12, metric.length, ...metric]); // Payload field 2, length-delimited
}
