import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { LinewatchError } from '../errors.js';

/**
 * TensorRT execution-provider options as linewatch's configuration states them, and their mapping
 * onto the option keys of onnxruntime's TensorRT EP (`trt_*`). The stock onnxruntime-node binding
 * forwards only `deviceId`; the binding built by deploy/jetson/build-onnxruntime.sh (with
 * deploy/jetson/patches/) forwards every `trt_*` key of the provider object, which is what
 * {@link toOrtTensorrtOptions} produces.
 *
 * The engine cache is keyed by model sha256, TensorRT version and the options that shape the
 * engine ({@link engineCacheKey}), so a new model, a JetPack upgrade or an FP16 toggle builds a
 * fresh engine instead of loading a stale one.
 */

/** Input names go into ORT's "name:1x3x392x392,other:…" strings, so ':' and ',' cannot appear. */
const INPUT_NAME = /^[^:,\s]+$/;
const dims = z.array(z.number().int().min(1).max(65_535)).min(1).max(8);

/**
 * Explicit optimisation profile for inputs with dynamic dimensions: per input name, the smallest,
 * typical and largest shape (TensorRT builds one engine valid for min ≤ shape ≤ max, fastest at opt).
 */
export const tensorrtProfileSchema = z
  .strictObject({
    min: z.record(z.string(), dims),
    opt: z.record(z.string(), dims),
    max: z.record(z.string(), dims),
  })
  .superRefine((p, ctx) => {
    for (const bound of ['min', 'opt', 'max'] as const) {
      for (const name of Object.keys(p[bound])) {
        if (!INPUT_NAME.test(name)) {
          ctx.addIssue({ code: 'custom', path: [bound, name], message: `input name "${name}" must not be empty or contain ":", "," or spaces` });
        }
      }
    }
    const names = Object.keys(p.opt);
    if (names.length === 0) ctx.addIssue({ code: 'custom', path: ['opt'], message: 'at least one input shape is needed' });
    for (const bound of ['min', 'max'] as const) {
      for (const name of Object.keys(p[bound])) {
        if (!(name in p.opt)) {
          ctx.addIssue({ code: 'custom', path: [bound, name], message: `input "${name}" has no opt shape` });
        }
      }
    }
    for (const name of names) {
      const opt = p.opt[name] ?? [];
      const min = p.min[name];
      const max = p.max[name];
      if (min === undefined) { ctx.addIssue({ code: 'custom', path: ['min', name], message: `input "${name}" has no min shape` }); continue; }
      if (max === undefined) { ctx.addIssue({ code: 'custom', path: ['max', name], message: `input "${name}" has no max shape` }); continue; }
      if (min.length !== opt.length || max.length !== opt.length) {
        ctx.addIssue({ code: 'custom', path: ['opt', name], message: `min/opt/max of "${name}" differ in rank (${min.length}/${opt.length}/${max.length})` });
        continue;
      }
      for (let d = 0; d < opt.length; d++) {
        const lo = min[d] as number;
        const mid = opt[d] as number;
        const hi = max[d] as number;
        if (!(lo <= mid && mid <= hi)) {
          ctx.addIssue({ code: 'custom', path: ['opt', name, d], message: `dimension ${d} of "${name}" must satisfy min ≤ opt ≤ max (${lo} ≤ ${mid} ≤ ${hi})` });
        }
      }
    }
  });
export type TensorrtProfile = z.output<typeof tensorrtProfileSchema>;

export const tensorrtOptionsSchema = z.strictObject({
  /** CUDA device ordinal; a Jetson has exactly one (0). Default 0. */
  deviceId: z.number().int().min(0).max(64).default(0),
  /** Build FP16 kernels where TensorRT finds them faster (ViTs gain ~2× on Orin). Default true. */
  fp16: z.boolean().default(true),
  /**
   * Folder holding serialised engines; each model/TensorRT/options combination gets its own
   * sub-folder (see {@link engineCacheKey}). null = no cache: every start rebuilds (minutes).
   * Default /var/lib/linewatch/trt-engines (the systemd unit's StateDirectory).
   */
  engineCacheDir: z.string().min(1).max(4096).nullable().default('/var/lib/linewatch/trt-engines'),
  /**
   * Folder of the timing cache (layer timings reused across engine builds, e.g. after a model
   * update with the same backbone). null = no timing cache. Default: the engineCacheDir root.
   */
  timingCacheDir: z.string().min(1).max(4096).nullable().optional(),
  /** TensorRT builder effort 0–5: higher builds slower and may run faster. Default 3 (TensorRT's). */
  builderOptimizationLevel: z.number().int().min(0).max(5).default(3),
  /** Upper bound of builder scratch memory in bytes; absent = TensorRT's default (device memory). */
  maxWorkspaceSizeBytes: z.number().int().min(1).max(2 ** 44).optional(),
  /** Shape profile for dynamic inputs; absent = the graph's static shapes. */
  profile: tensorrtProfileSchema.optional(),
  /**
   * Run on a DLA core (Orin AGX/NX: 0 or 1; Orin Nano has none) instead of the GPU; layers the
   * DLA cannot run fall back to the GPU. null = GPU only. Default null.
   */
  dlaCore: z.union([z.literal(0), z.literal(1)]).nullable().default(null),
});

export type TensorrtOptionsInput = z.input<typeof tensorrtOptionsSchema>;
export type TensorrtOptions = z.output<typeof tensorrtOptionsSchema>;

/**
 * The provider object handed to onnxruntime-node's `executionProviders`. Keys past `deviceId` are
 * the EP's own option names; only the patched binding reads them (the stock one ignores them).
 */
export interface OrtTensorrtProviderOptions {
  readonly name: 'tensorrt';
  readonly deviceId: number;
  readonly trt_fp16_enable: boolean;
  readonly trt_engine_cache_enable: boolean;
  readonly trt_engine_cache_path?: string;
  readonly trt_timing_cache_enable: boolean;
  readonly trt_timing_cache_path?: string;
  readonly trt_builder_optimization_level: number;
  readonly trt_max_workspace_size?: number;
  readonly trt_profile_min_shapes?: string;
  readonly trt_profile_opt_shapes?: string;
  readonly trt_profile_max_shapes?: string;
  readonly trt_dla_enable: boolean;
  readonly trt_dla_core?: number;
}

/** What identifies one engine: a different model, TensorRT or option set must not reuse it. */
export interface EngineCacheIdentity {
  /** sha256 (hex) of the ONNX file, from the bundle manifest. */
  modelSha256: string;
  /** TensorRT version on this machine, e.g. "10.3.0.30" (see {@link tensorrtVersionFromEnv}). */
  tensorrtVersion: string;
}

/**
 * Validates options, naming the offending field.
 *
 * @example
 * parseTensorrtOptions({ fp16: true, builderOptimizationLevel: 9 })
 * // throws LinewatchError LW_ERR_CONFIG_INVALID: "tensorrt.builderOptimizationLevel: …"
 */
export function parseTensorrtOptions(input: unknown, where = 'tensorrt'): TensorrtOptions {
  const parsed = tensorrtOptionsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new LinewatchError('LW_ERR_CONFIG_INVALID', lines.join('; '), { cause: parsed.error });
}

/** "images:1x3x392x392,prompt:1x3x392x392" in the order the record lists inputs. */
export function formatShapes(shapes: Readonly<Record<string, readonly number[]>>): string {
  return Object.entries(shapes)
    .map(([name, d]) => `${name}:${d.join('x')}`)
    .join(',');
}

/**
 * Sub-folder name of one engine: model hash prefix, TensorRT version, hash of the engine-shaping
 * options. Pure; same inputs, same name.
 *
 * @example
 * engineCacheKey(opts, { modelSha256: 'ab12…', tensorrtVersion: '10.3.0.30' }) // 'ab12…(16)-trt10.3.0.30-3f9c…(12)'
 */
export function engineCacheKey(opts: TensorrtOptions, id: EngineCacheIdentity): string {
  if (!/^[0-9a-f]{64}$/.test(id.modelSha256)) {
    throw new LinewatchError('LW_ERR_CONFIG_INVALID', `tensorrt engine cache: modelSha256 must be 64 hex digits, got "${id.modelSha256}"`);
  }
  if (!/^[0-9A-Za-z][0-9A-Za-z.+~_-]*$/.test(id.tensorrtVersion)) {
    throw new LinewatchError('LW_ERR_CONFIG_INVALID', `tensorrt engine cache: tensorrtVersion "${id.tensorrtVersion}" is not a version string`);
  }
  // Only what changes the serialised engine; cache folders and deviceId do not.
  const shaping = {
    fp16: opts.fp16,
    builderOptimizationLevel: opts.builderOptimizationLevel,
    maxWorkspaceSizeBytes: opts.maxWorkspaceSizeBytes ?? null,
    profile: opts.profile
      ? { min: formatShapes(opts.profile.min), opt: formatShapes(opts.profile.opt), max: formatShapes(opts.profile.max) }
      : null,
    dlaCore: opts.dlaCore,
  };
  const optionsHash = createHash('sha256').update(JSON.stringify(shaping)).digest('hex').slice(0, 12);
  return `${id.modelSha256.slice(0, 16)}-trt${id.tensorrtVersion}-${optionsHash}`;
}

/** Folder the engines of this model/TensorRT/options live in, or null when caching is off. */
export function engineCacheDir(opts: TensorrtOptions, id: EngineCacheIdentity): string | null {
  return opts.engineCacheDir === null ? null : join(opts.engineCacheDir, engineCacheKey(opts, id));
}

/**
 * Maps validated options onto the EP's option keys. With `id`, the engine cache path is the keyed
 * sub-folder; without it, engines go straight into engineCacheDir (onnxruntime still names each
 * engine by graph hash, but an FP16 toggle would then reuse a stale engine).
 *
 * @example
 * const ep = toOrtTensorrtOptions(parseTensorrtOptions({}), { modelSha256, tensorrtVersion: '10.3.0.30' });
 * await InferenceSession.create(path, { executionProviders: [ep, 'cuda', 'cpu'] });
 */
export function toOrtTensorrtOptions(opts: TensorrtOptions, id?: EngineCacheIdentity): OrtTensorrtProviderOptions {
  const enginePath = opts.engineCacheDir === null ? null : id ? engineCacheDir(opts, id) : opts.engineCacheDir;
  const timingPath = opts.timingCacheDir === undefined ? opts.engineCacheDir : opts.timingCacheDir;
  const out: { -readonly [K in keyof OrtTensorrtProviderOptions]: OrtTensorrtProviderOptions[K] } = {
    name: 'tensorrt',
    deviceId: opts.deviceId,
    trt_fp16_enable: opts.fp16,
    trt_engine_cache_enable: enginePath !== null,
    trt_timing_cache_enable: timingPath !== null,
    trt_builder_optimization_level: opts.builderOptimizationLevel,
    trt_dla_enable: opts.dlaCore !== null,
  };
  if (enginePath !== null) out.trt_engine_cache_path = enginePath;
  if (timingPath !== null) out.trt_timing_cache_path = timingPath;
  if (opts.maxWorkspaceSizeBytes !== undefined) out.trt_max_workspace_size = opts.maxWorkspaceSizeBytes;
  if (opts.profile) {
    out.trt_profile_min_shapes = formatShapes(opts.profile.min);
    out.trt_profile_opt_shapes = formatShapes(opts.profile.opt);
    out.trt_profile_max_shapes = formatShapes(opts.profile.max);
  }
  if (opts.dlaCore !== null) out.trt_dla_core = opts.dlaCore;
  return out;
}

/** Debian's `[epoch:]upstream[-revision]`, upstream being TensorRT's four numbers (and a `+…` suffix). */
const TRT_DEB_VERSION = /^(?:\d+:)?(\d+\.\d+\.\d+\.\d+)(?:\+[0-9A-Za-z.~+]*)?(?:-[0-9A-Za-z.~+]+)?$/;

/**
 * The TensorRT version engines are keyed by: the four numbers of JetPack's libnvinfer package, read
 * the same way as deploy/jetson/lib/board.sh `lw_trt_version` (host, container and key agree;
 * test/deploy/board-lib.test.ts runs both on JetPack 6.0–6.2.2's recorded strings). Takes the
 * Debian version or the four numbers; anything else is refused, naming it.
 *
 * @example
 * normalizeTensorrtVersion('10.3.0.30-1+cuda12.5') // '10.3.0.30'
 * normalizeTensorrtVersion('10.3.0.30')            // '10.3.0.30'
 * normalizeTensorrtVersion('10.3.0')               // throws: not libnvinfer's four numbers
 */
export function normalizeTensorrtVersion(raw: string, where = 'TensorRT version'): string {
  const m = TRT_DEB_VERSION.exec(raw.trim());
  if (!m?.[1]) {
    throw new LinewatchError(
      'LW_ERR_CONFIG_INVALID',
      `${where} "${raw}" is not libnvinfer's version (four numbers such as 10.3.0.30, or the package's 10.3.0.30-1+cuda12.5)`,
    );
  }
  return m[1];
}

/**
 * TensorRT version as deploy/jetson/install.sh records it (LINEWATCH_TENSORRT_VERSION in the
 * service environment, from the libnvinfer package), normalised by {@link normalizeTensorrtVersion};
 * "unknown" off a Jetson.
 */
export function tensorrtVersionFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const v = env['LINEWATCH_TENSORRT_VERSION']?.trim();
  return v && v.length > 0 ? normalizeTensorrtVersion(v, 'LINEWATCH_TENSORRT_VERSION') : 'unknown';
}

export type EngineCacheState =
  | { state: 'disabled' }
  /** No engine yet: the next session start builds one (minutes on a Jetson). */
  | { state: 'build-needed'; dir: string }
  | { state: 'cached'; dir: string; engines: readonly string[] };

/** Whether starting a session will build or reuse an engine, for status and logs. */
export function engineCacheState(dir: string | null): EngineCacheState {
  if (dir === null) return { state: 'disabled' };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { state: 'build-needed', dir };
  }
  const engines = names.filter((n) => n.endsWith('.engine')).sort();
  return engines.length > 0 ? { state: 'cached', dir, engines } : { state: 'build-needed', dir };
}
