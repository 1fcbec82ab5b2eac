/**
 * How a station batches frames in front of its model (inference.batchSize, batchWaitMs,
 * batchAcrossCameras), and what that batching did (mux batches, model runs, fixed-batch padding
 * and splits), summed over camera restarts and model swaps so that counters never go backwards.
 */
import type { Config } from '../config/schema.js';
import type { BatchProbe } from '../models/batch-probe.js';
import type { Manifest } from '../models/manifest.js';
import type { EngineBatchCounts } from '../models/types.js';
import type { BatchMuxStats } from './operators/batch-mux.js';

export interface BatchPlan {
  /** One mux for every area-scan camera (true), or one per camera. */
  readonly acrossCameras: boolean;
  readonly batchSize: number;
  /** Where batchSize came from. */
  readonly batchSizeBy: BatchSizeSource;
  readonly batchWaitMs: number;
  /**
   * Batches being prepared or run at once per mux. Across cameras: two per session worker (one
   * running, one prepared and waiting in the worker's port), so the model never waits for the
   * main thread while frames gather for the batch after. Per camera: two, as before.
   */
  readonly concurrency: number;
}

/**
 * `config`: inference.batchSize; `fixed-batch model`: the bundle's one batch (TensorRT);
 * `measured`: the batch probe's choice (cameras share a dynamic-batch model); `number of cameras`:
 * the same without a probe; `one per camera`: each camera alone, one frame per call.
 */
export type BatchSizeSource = 'config' | 'fixed-batch model' | 'measured' | 'number of cameras' | 'one per camera';

/** Batches per session worker: one running, one waiting (the engine's WORKER_DEPTH). */
const PER_WORKER = 2;

type PlanConfig = Pick<Config, 'inference' | 'cameras' | 'model'>;

/**
 * How many cameras a batch probe should measure up to, or null when none is needed: only when
 * area-scan cameras share a dynamic-batch model and inference.batchSize leaves the size open.
 */
export function batchProbeUpTo(config: PlanConfig, manifest: Pick<Manifest, 'input'>): number | null {
  const sharing = camerasSharing(config);
  return sharing > 0 && manifest.input.batch === 'dynamic' && config.inference.batchSize === undefined ? sharing : null;
}

/**
 * `probe`: the running engine's batch probe (see batch-probe.ts); without one for this camera
 * count, cameras sharing a dynamic model fill batches as large as their number.
 *
 * @example
 * batchPlan(config, bundle.manifest, probe) // 4 area-scan cameras, dynamic batch, probe chose 2: { acrossCameras: true, batchSize: 2, batchSizeBy: 'measured', … }
 */
export function batchPlan(config: PlanConfig, manifest: Pick<Manifest, 'input'>, probe: BatchProbe | null = null): BatchPlan {
  const q = config.inference;
  const fixed = manifest.input.batch;
  const sharing = camerasSharing(config);
  const acrossCameras = sharing > 0;
  const [batchSize, batchSizeBy]: [number, BatchSizeSource] =
    q.batchSize !== undefined
      ? [q.batchSize, 'config']
      : fixed !== 'dynamic'
        ? [fixed, 'fixed-batch model']
        : !acrossCameras
          ? [1, 'one per camera']
          : probe !== null && probe.upTo === sharing
            ? [probe.chosen, 'measured']
            : [sharing, 'number of cameras'];
  return { acrossCameras, batchSize, batchSizeBy, batchWaitMs: q.batchWaitMs, concurrency: acrossCameras ? PER_WORKER * config.model.workers : PER_WORKER };
}

/** Area-scan cameras that share one mux (batching across cameras, two or more of them), else 0. */
function camerasSharing(config: PlanConfig): number {
  let n = 0;
  for (const c of config.cameras) if (c.lineScan === undefined) n++;
  return config.inference.batchAcrossCameras && n > 1 ? n : 0;
}

/** What batching did: the muxes' batches and the engines' runs (EngineBatchCounts). */
export interface BatchingSnapshot extends EngineBatchCounts {
  /** Batches formed in front of the model (area-scan). */
  readonly batches: number;
  /** Frames in them. */
  readonly batchedFrames: number;
  /** Batches holding frames of more than one camera. */
  readonly mixedBatches: number;
}

const ZERO: BatchingSnapshot = { batches: 0, batchedFrames: 0, mixedBatches: 0, runs: 0, images: 0, paddedRuns: 0, paddedImages: 0, splitBatches: 0 };

/** The live muxes and engine, plus what retired ones did. */
export class BatchingCounters {
  private retired: BatchingSnapshot;

  constructor() {
    this.retired = ZERO;
  }

  /** A mux whose cameras stopped, or an engine that was closed: its counts are kept. */
  retireMux(s: BatchMuxStats): void {
    this.retired = sum(this.retired, fromMux(s));
  }

  retireEngine(c: EngineBatchCounts): void {
    this.retired = sum(this.retired, { ...ZERO, ...c });
  }

  snapshot(muxes: readonly BatchMuxStats[], engine: EngineBatchCounts): BatchingSnapshot {
    let s = sum(this.retired, { ...ZERO, ...engine });
    for (const m of muxes) s = sum(s, fromMux(m));
    return s;
  }
}

function fromMux(m: BatchMuxStats): BatchingSnapshot {
  return { ...ZERO, batches: m.batches, batchedFrames: m.items, mixedBatches: m.mixedBatches };
}

function sum(a: BatchingSnapshot, b: BatchingSnapshot): BatchingSnapshot {
  return {
    batches: a.batches + b.batches,
    batchedFrames: a.batchedFrames + b.batchedFrames,
    mixedBatches: a.mixedBatches + b.mixedBatches,
    runs: a.runs + b.runs,
    images: a.images + b.images,
    paddedRuns: a.paddedRuns + b.paddedRuns,
    paddedImages: a.paddedImages + b.paddedImages,
    splitBatches: a.splitBatches + b.splitBatches,
  };
}
