import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * libuv's thread pool (fs, dns, zlib, sharp's work, …) has 4 threads unless UV_THREADPOOL_SIZE
 * says otherwise, and it is sized ONCE, when it first starts — before any user code of an ES
 * module entry runs. Every GStreamer pipeline holds two of its threads for as long as it plays
 * (a pending appsink pull and a pending bus poll), so two cameras would leave nothing for the
 * rest. bin/linewatch.js (CommonJS, so that it runs before the pool starts) calls
 * `applyThreadPoolSize` first thing; this module must stay synchronous (no top-level await).
 */

/** Threads the rest of linewatch wants besides the pipelines (libuv's own default). */
export const BASE_POOL_THREADS = 4;

/** Pool threads each GStreamer pipeline keeps busy: its appsink pull and its bus poll. */
export const THREADS_PER_PIPELINE = 2;

/**
 * Pure: the pool size for `pipelines` GStreamer pipelines.
 *
 * @example
 * threadPoolSizeFor(3) // 10
 */
export function threadPoolSizeFor(pipelines: number): number {
  return BASE_POOL_THREADS + THREADS_PER_PIPELINE * Math.max(0, Math.floor(pipelines));
}

/** Pure: GStreamer pipelines a (parsed, not yet validated) configuration document asks for. */
export function countGstreamerPipelines(doc: unknown): number {
  if (typeof doc !== 'object' || doc === null) return 0;
  const cameras = (doc as { cameras?: unknown }).cameras;
  if (!Array.isArray(cameras)) return 0;
  let n = 0;
  for (const cam of cameras) {
    const source = typeof cam === 'object' && cam !== null ? (cam as { source?: unknown }).source : undefined;
    if (typeof source === 'object' && source !== null && (source as { type?: unknown }).type === 'gstreamer') n++;
  }
  return n;
}

/** Pure: the value of `--config <path>`, `--config=<path>` or `-c <path>` in argv. */
export function configPathFromArgv(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config' || a === '-c') return argv[i + 1];
    if (a.startsWith('--config=')) return a.slice('--config='.length);
  }
  return undefined;
}

export interface PoolDecision {
  /** The size in effect for this process (what libuv will use). */
  readonly size: number;
  /** `user`: UV_THREADPOOL_SIZE was set outside, and is kept; `config`: computed from the configuration; `default`: no configuration read. */
  readonly from: 'user' | 'config' | 'default';
  readonly pipelines: number;
}

/**
 * Sets `env.UV_THREADPOOL_SIZE` from the configuration named in argv, unless the user set it.
 * Never throws: a configuration it cannot read is left for the CLI to report properly.
 */
export function applyThreadPoolSize(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  readText: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): PoolDecision {
  const user = env.UV_THREADPOOL_SIZE;
  if (user !== undefined && user !== '') return { size: Number(user), from: 'user', pipelines: -1 };
  const path = configPathFromArgv(argv);
  let pipelines = 0;
  if (path !== undefined) {
    try {
      pipelines = countGstreamerPipelines(parse(readText(path)));
    } catch {
      return { size: BASE_POOL_THREADS, from: 'default', pipelines: 0 };
    }
  }
  const size = threadPoolSizeFor(pipelines);
  if (size > BASE_POOL_THREADS) env.UV_THREADPOOL_SIZE = String(size);
  return { size, from: path === undefined ? 'default' : 'config', pipelines };
}
