/**
 * A model bundle on disk: model.json + the ONNX file it names. loadBundle refuses anything the
 * runtime should not start on, naming the file and what is wrong.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LinewatchError, errorMessage } from '../errors.js';
import { ARCHITECTURES, isArchitecture, manifestSchema, type Manifest } from './manifest.js';

export interface Bundle {
  /** Absolute path of the bundle folder. */
  readonly dir: string;
  readonly manifest: Manifest;
  /** Absolute path of the verified ONNX file. */
  readonly onnxPath: string;
  /** Absolute path of the verified prompt-embedding graph (manifest `prompt.embedding`), or null. */
  readonly embeddingPath: string | null;
}

export const MANIFEST_FILE = 'model.json';

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** sha256 of a file, hex, streamed (ONNX files can be hundreds of MB). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Parses and validates model.json text; errors list every bad field by its path. */
export function parseManifest(text: string, origin: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `${origin}: not valid JSON (${errorMessage(err)})`, { cause: err });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
    throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `${origin} does not match the manifest schema:\n${lines.join('\n')}`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/**
 * Loads and verifies a bundle: both files present, the manifest valid, its architecture one this
 * runtime has an adapter for, the ONNX file's sha256 as the manifest says. Graph inputs/outputs are checked later, when a session exists
 * (InferenceEngine.create).
 *
 * @example
 * const bundle = await loadBundle('models/demo');
 */
export async function loadBundle(dir: string): Promise<Bundle> {
  const abs = resolve(dir);
  const manifestPath = join(abs, MANIFEST_FILE);
  if (!(await isFile(manifestPath))) {
    throw new LinewatchError('LW_ERR_BUNDLE_MISSING_FILE', `model bundle ${abs}: ${MANIFEST_FILE} is missing`);
  }
  const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
  if (!isArchitecture(manifest.architecture)) {
    // Never run through another family's path: its inputs, outputs and maps mean other things.
    throw new LinewatchError(
      'LW_ERR_MODEL_ARCHITECTURE',
      `model bundle ${abs}: architecture "${manifest.architecture}" has no adapter in this runtime (it runs ${ARCHITECTURES.join(', ')}); docs/model-bundle.md says how to add one`,
    );
  }
  if (manifest.file.includes('/') || manifest.file.includes('\\') || manifest.file === '..') {
    throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `${manifestPath}: file "${manifest.file}" must be a file name inside the bundle folder`);
  }
  const onnxPath = join(abs, manifest.file);
  if (!(await isFile(onnxPath))) {
    throw new LinewatchError('LW_ERR_BUNDLE_MISSING_FILE', `model bundle ${abs}: ${manifest.file} (named by ${MANIFEST_FILE}) is missing`);
  }
  await checkSha(onnxPath, manifest.sha256);
  const embedding = manifest.prompt?.embedding;
  let embeddingPath: string | null = null;
  if (embedding !== undefined) {
    if (embedding.file.includes('/') || embedding.file.includes('\\') || embedding.file === '..') {
      throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `${manifestPath}: prompt.embedding.file "${embedding.file}" must be a file name inside the bundle folder`);
    }
    embeddingPath = join(abs, embedding.file);
    if (!(await isFile(embeddingPath))) {
      throw new LinewatchError('LW_ERR_BUNDLE_MISSING_FILE', `model bundle ${abs}: ${embedding.file} (named by ${MANIFEST_FILE} prompt.embedding) is missing`);
    }
    await checkSha(embeddingPath, embedding.sha256);
  }
  return { dir: abs, manifest, onnxPath, embeddingPath };
}

async function checkSha(path: string, want: string): Promise<void> {
  const got = await sha256File(path);
  if (got !== want) {
    throw new LinewatchError(
      'LW_ERR_BUNDLE_SHA256',
      `${path}: sha256 is ${got}, ${MANIFEST_FILE} says ${want} (the file was changed or belongs to another bundle)`,
    );
  }
}

/**
 * The same bundle judged on one of its extra outputs (`outputs.extra`) instead of its anomaly map:
 * that output becomes the map (with the map's size and steps), the score is computed from it by
 * the manifest's rule, and the old map and score become extras. It lets the runtime measure two
 * maps of one graph side by side (INP-Former++'s `recon_map` beside its fused map). The
 * calibration still belongs to the main map, so escapes and false rejects at its thresholds mean
 * little for the other. The graph's check at session creation refuses an output of another size.
 *
 * @throws LinewatchError LW_ERR_BUNDLE_MANIFEST when `name` is not one of the bundle's extra outputs
 * @example
 * const recon = withMapOutput(await loadBundle(dir), 'recon_map');
 */
export function withMapOutput(bundle: Bundle, name: string): Bundle {
  const o = bundle.manifest.outputs;
  if (!o.extra.includes(name)) {
    const have = o.extra.length > 0 ? `its extra outputs are ${o.extra.join(', ')}` : 'it declares no extra outputs';
    throw new LinewatchError('LW_ERR_BUNDLE_MANIFEST', `model bundle ${bundle.dir}: no extra output "${name}" to judge as the map (${have})`);
  }
  const extra = [...o.extra.filter((e) => e !== name), o.anomalyMap.name, ...(o.score.name !== null ? [o.score.name] : [])];
  const outputs = { ...o, anomalyMap: { ...o.anomalyMap, name }, score: { ...o.score, name: null }, extra };
  return { ...bundle, manifest: { ...bundle.manifest, outputs } };
}
