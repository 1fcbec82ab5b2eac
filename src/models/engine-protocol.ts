/** Messages between InferenceEngine (main thread) and its session workers. */
import type { ErrorCode } from '../errors.js';
import type { Manifest } from './manifest.js';
import type { ProviderFallback, ProviderSpec } from './providers.js';
import type { GraphValue } from './io-check.js';

export interface WorkerSetup {
  readonly onnxPath: string;
  readonly manifestPath: string;
  readonly manifest: Manifest;
  /** Tried in order; a replacement worker gets only the provider the first one settled on. */
  readonly providers: readonly ProviderSpec[];
  readonly intraOpThreads: number;
  readonly warmup: boolean;
}

export type ToWorker =
  | { readonly type: 'run'; readonly id: number; readonly n: number; readonly data: Uint8Array | Float32Array; readonly prompt: Uint8Array | Float32Array | null }
  | { readonly type: 'close' }
  /** Test hook: throw an uncaught error in the worker, as a bug in it would. */
  | { readonly type: 'crash' };

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

export type FromWorker =
  | {
      readonly type: 'ready';
      readonly provider: string;
      readonly fallbacks: readonly ProviderFallback[];
      readonly inputs: readonly GraphValue[];
      readonly outputs: readonly GraphValue[];
      readonly warmupMs: number | null;
    }
  | { readonly type: 'failed'; readonly error: WireError }
  | { readonly type: 'result'; readonly id: number; readonly map: Float32Array; readonly score: Float32Array | null; readonly inferMs: number }
  | { readonly type: 'error'; readonly id: number; readonly error: WireError };
