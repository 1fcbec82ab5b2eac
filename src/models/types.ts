/** What crosses the engine boundary: one batch in, one batch of maps (and scores) out. */

/**
 * One batch in the layout and dtype the manifest's `input` declares (N×H×W×C for NHWC,
 * N×C×H×W for NCHW). The buffer belongs to the engine after `run()` (usually transferred to the
 * worker, which leaves it detached here).
 */
export interface ModelInput {
  /** Images in the batch (a fixed-batch model runs it padded, or split into several runs). */
  readonly n: number;
  readonly data: Uint8Array | Float32Array;
  /** OneNIP's prompt images, same layout as `data`. */
  readonly prompt?: Uint8Array | Float32Array;
}

export interface ModelOutput {
  readonly n: number;
  /** n × mapHeight × mapWidth, row-major, as the graph emitted it (before runtimeSteps). */
  readonly map: Float32Array;
  readonly mapHeight: number;
  readonly mapWidth: number;
  /** The graph's [n] score output, or null when the manifest says the runtime computes it. */
  readonly score: Float32Array | null;
  /** Time inside session.run, in the worker. */
  readonly inferMs: number;
}

/**
 * What the engine has run, since it was created. A fixed-batch model (TensorRT engines are built
 * for one batch size) is given exactly that many images per run: a smaller batch is padded with
 * zero images, a larger one split into several runs. Both cost model time for nothing (padding)
 * or break one batch into several, so both are counted.
 */
export interface EngineBatchCounts {
  /** session.run calls (a split batch is several). */
  readonly runs: number;
  /** Images judged (padding not included). */
  readonly images: number;
  /** Runs that were padded up to the fixed batch. */
  readonly paddedRuns: number;
  /** Zero images added by padding. */
  readonly paddedImages: number;
  /** Batches larger than the fixed batch, split into several runs. */
  readonly splitBatches: number;
}
