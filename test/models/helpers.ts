/** Shared by the model tests: the trainer's tiny bundles, golden.json decoding, temp copies. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/fixtures/models (made by `bin/trainer fixtures --out test/fixtures/models`). */
export const MODELS_DIR = process.env['LW_TEST_MODELS_DIR'] ?? fileURLToPath(new URL('../../../test/fixtures/models', import.meta.url));

export type FixtureName =
  | 'tiny-inp' | 'tiny-inp-raw' | 'tiny-inp-b2' | 'tiny-prompted' | 'tiny-onenip'
  | 'tiny-onenip-pool' | 'tiny-inp-long' | 'tiny-inp-tiles'
  | 'tiny-inp-zeroshot' | 'tiny-inppp';

export function fixture(name: FixtureName): string {
  return join(MODELS_DIR, name);
}

interface EncodedArray {
  shape: number[];
  dtype: string;
  base64: string;
}

export interface GoldenCase {
  name: string;
  inputs: Record<string, EncodedArray>;
  outputs: Record<string, EncodedArray>;
  reference: { map: EncodedArray; score: EncodedArray };
}

export interface Golden {
  format: string;
  tolerance: number;
  mapMode: 'full' | 'raw';
  cases: GoldenCase[];
}

export async function readGolden(bundleDir: string): Promise<Golden> {
  return JSON.parse(await readFile(join(bundleDir, 'golden.json'), 'utf8')) as Golden;
}

/** golden.json arrays: little-endian raw bytes, row-major. */
export function decode(a: EncodedArray): { shape: number[]; data: Uint8Array | Float32Array } {
  const bytes = Buffer.from(a.base64, 'base64');
  // A fresh, exactly sized buffer: the engine takes ownership of (transfers) what it is given.
  const own = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(own).set(bytes);
  switch (a.dtype) {
    case 'uint8':
      return { shape: a.shape, data: new Uint8Array(own) };
    case 'float32':
      return { shape: a.shape, data: new Float32Array(own) };
    default:
      throw new Error(`golden array dtype ${a.dtype} not handled by the test`);
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

/** A scratch copy of a fixture bundle that the test may break; `done()` removes it. */
export async function copyBundle(name: FixtureName): Promise<{ dir: string; done: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'lw-bundle-'));
  const dir = join(root, name);
  await cp(fixture(name), dir, { recursive: true });
  return { dir, done: () => rm(root, { recursive: true, force: true }) };
}

export interface CollectedLog {
  level: 'warn' | 'info';
  msg: string;
  obj: object;
}

export function collectingLogger(into: CollectedLog[]) {
  return {
    warn: (obj: object, msg: string) => void into.push({ level: 'warn', msg, obj }),
    info: (obj: object, msg: string) => void into.push({ level: 'info', msg, obj }),
  };
}

/** A scratch copy of a fixture whose model.json is changed by `edit` (the sha256 covers model.onnx only). */
export async function editedBundle(name: FixtureName, edit: (m: Record<string, unknown>) => void): Promise<{ dir: string; done: () => Promise<void> }> {
  const c = await copyBundle(name);
  const path = join(c.dir, 'model.json');
  const m = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(m);
  await writeFile(path, JSON.stringify(m));
  return c;
}
