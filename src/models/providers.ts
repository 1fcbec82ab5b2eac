/**
 * Execution providers: which accelerators to try, in order, and what happened when we did.
 * The config lists them best first (e.g. tensorrt, cuda, cpu); a provider that cannot be loaded
 * here (no library, no device) is skipped with its reason, logged and reported.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { InferenceSession } from 'onnxruntime-node';
import { LinewatchError, errorMessage } from '../errors.js';
import {
  engineCacheDir,
  engineCacheState,
  tensorrtOptionsSchema,
  tensorrtVersionFromEnv,
  toOrtTensorrtOptions,
  type EngineCacheState,
  type TensorrtOptions,
} from './tensorrt-options.js';

export const PROVIDER_NAMES = ['tensorrt', 'cuda', 'cpu'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const deviceId = z.number().int().min(0).max(64).default(0).describe('GPU index');


export const providerSchema = z.union([
  z.enum(PROVIDER_NAMES),
  z.object({ name: z.literal('cpu') }).strict(),
  z.object({ name: z.literal('cuda'), deviceId }).strict(),
  /** TensorRT's options (fp16, engine cache, profiles, DLA) are tensorrt-options.ts's schema. */
  z.object({ name: z.literal('tensorrt'), options: tensorrtOptionsSchema.optional() }).strict(),
]);

/**
 * `model.executionProviders`: tried in order; the first that loads is used. Default `[cpu]`.
 *
 * @example
 * executionProviders: [tensorrt, { name: cuda, deviceId: 0 }, cpu]
 */
export const executionProvidersSchema = z
  .array(providerSchema)
  .min(1)
  .max(8)
  .default(['cpu'])
  .describe('execution providers, best first; the first that loads here is used');

export type ProviderConfig = z.output<typeof providerSchema>;

/** A provider config with the shorthand expanded. */
export type ProviderSpec =
  | { readonly name: 'cpu' }
  | { readonly name: 'cuda'; readonly deviceId: number }
  | { readonly name: 'tensorrt'; readonly options: TensorrtOptions };

export interface ProviderFallback {
  readonly provider: string;
  readonly reason: string;
}

export function normalizeProvider(p: ProviderConfig): ProviderSpec {
  if (typeof p !== 'string') {
    if (p.name === 'tensorrt') return { name: 'tensorrt', options: p.options ?? tensorrtOptionsSchema.parse({}) };
    return p;
  }
  switch (p) {
    case 'cpu':
      return { name: 'cpu' };
    case 'cuda':
      return { name: 'cuda', deviceId: 0 };
    case 'tensorrt':
      return { name: 'tensorrt', options: tensorrtOptionsSchema.parse({}) };
  }
}

/**
 * What onnxruntime-node is told for one provider. `modelSha256` keys TensorRT's engine cache so a
 * new model never loads a stale engine.
 */
export function toOrtProvider(p: ProviderSpec, modelSha256: string): InferenceSession.ExecutionProviderConfig {
  switch (p.name) {
    case 'cpu':
      return 'cpu';
    case 'cuda':
      return { name: 'cuda', deviceId: p.deviceId } as InferenceSession.ExecutionProviderConfig;
    case 'tensorrt':
      return toOrtTensorrtOptions(p.options, { modelSha256, tensorrtVersion: tensorrtVersionFromEnv() }) as unknown as InferenceSession.ExecutionProviderConfig;
  }
}

/** The onnxruntime-node module surface we use (passed in so workers and the CLI share this code). */
export interface OrtModule {
  readonly InferenceSession: { create(path: string, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  readonly listSupportedBackends?: () => readonly { name: string; bundled: boolean }[];
}

export interface SessionWithProvider {
  readonly session: InferenceSession;
  readonly provider: string;
  readonly fallbacks: readonly ProviderFallback[];
}

/**
 * onnxruntime's own words for a missing provider library are terse; say what is missing and
 * where it comes from, so the operator reading status knows what to install.
 */
function explainFailure(name: ProviderName, message: string): string {
  if (name !== 'cpu' && /Failed to load shared library/i.test(message)) {
    return `${message}: libonnxruntime_providers_${name}.so (or the CUDA/TensorRT libraries it needs) is not installed beside this onnxruntime-node; deploy/jetson/build-onnxruntime.sh builds one with it`;
  }
  return message;
}

/**
 * Where onnxruntime-node's native library lies (the folder ONNX Runtime loads provider libraries
 * from), or null when this install has another layout (then nothing is checked beforehand).
 */
function ortLibraryDir(): string | null {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    const dir = join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
    return existsSync(join(dir, 'onnxruntime_binding.node')) ? dir : null;
  } catch {
    return null;
  }
}

let libraryDir: string | null | undefined;

/** Provider libraries ONNX Runtime would look for and does not find beside its own library. */
export interface MissingProviderLibraries {
  readonly dir: string;
  readonly files: readonly string[];
}

/**
 * The libraries a GPU provider needs that are not installed, found without trying it; null when
 * they are in place (then only a session says whether the CUDA/TensorRT libraries and a device
 * are there too), for cpu, and where this install's layout is unknown. ONNX Runtime loads
 * `libonnxruntime_providers_shared.so` and `libonnxruntime_providers_<name>.so` from beside its
 * own library; trying without them prints its own error on stderr, twice.
 */
export function missingProviderLibraries(name: ProviderName): MissingProviderLibraries | null {
  if (name === 'cpu' || process.platform !== 'linux') return null;
  if (libraryDir === undefined) libraryDir = ortLibraryDir();
  const dir = libraryDir;
  if (dir === null) return null;
  const files = ['libonnxruntime_providers_shared.so', `libonnxruntime_providers_${name}.so`].filter((f) => !existsSync(join(dir, f)));
  return files.length === 0 ? null : { dir, files };
}

/** Why a provider whose libraries are missing cannot load, in words. */
export function describeMissingLibraries(m: MissingProviderLibraries): string {
  return `not installed: no ${m.files.join(' or ')} beside onnxruntime-node's libonnxruntime in ${m.dir} (deploy/jetson/build-onnxruntime.sh builds an onnxruntime with them)`;
}

/**
 * Creates a session on the first provider in `providers` that works here. Each failure becomes a
 * fallback with its reason; if none works, LW_ERR_SESSION_CREATE lists them all.
 */
export async function createSessionWithFallback(
  ort: OrtModule,
  onnxPath: string,
  modelSha256: string,
  providers: readonly ProviderSpec[],
  base: InferenceSession.SessionOptions,
): Promise<SessionWithProvider> {
  const supported = ort.listSupportedBackends?.().map((b) => b.name) ?? null;
  const fallbacks: ProviderFallback[] = [];
  for (const p of providers) {
    if (supported !== null && !supported.includes(p.name)) {
      fallbacks.push({ provider: p.name, reason: `not built into this onnxruntime-node (it has: ${supported.join(', ')})` });
      continue;
    }
    const missing = missingProviderLibraries(p.name);
    if (missing !== null) {
      fallbacks.push({ provider: p.name, reason: describeMissingLibraries(missing) });
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(onnxPath, { ...base, executionProviders: [toOrtProvider(p, modelSha256)] });
      return { session, provider: p.name, fallbacks };
    } catch (err) {
      fallbacks.push({ provider: p.name, reason: explainFailure(p.name, errorMessage(err).trim()) });
    }
  }
  const why = fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ');
  throw new LinewatchError('LW_ERR_SESSION_CREATE', `${onnxPath}: no execution provider could load the model (${why})`);
}

/**
 * Whether a TensorRT session for this model will build its engine (minutes on a Jetson) or reuse a
 * cached one; null when tensorrt is not among the providers. Read before the session starts so the
 * station can say so, and again for status.
 *
 * @example
 * tensorrtEngineCache(['tensorrt', 'cpu'], manifest.sha256) // { state: 'build-needed', dir: '/var/lib/linewatch/trt/…' }
 */
export function tensorrtEngineCache(providers: readonly ProviderConfig[], modelSha256: string): EngineCacheState | null {
  for (const p of providers) {
    const spec = normalizeProvider(p);
    if (spec.name !== 'tensorrt') continue;
    return engineCacheState(engineCacheDir(spec.options, { modelSha256, tensorrtVersion: tensorrtVersionFromEnv() }));
  }
  return null;
}
