/** What crosses the engine boundary: one batch in, one batch of maps (and scores) out. */

/**
 * One batch in the layout and dtype the manifest's `input` declares (N×H×W×C for NHWC,
 * N×C×H×W for NCHW). The buffer belongs to the engine after `run()` (usually transferred to the
 * worker, which leaves it detached here).
 */
export interface ModelInput {
  /** Images in the batch (≤ the manifest's fixed batch, which is then padded). */
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
