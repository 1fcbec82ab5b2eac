/**
 * What a pipeline with no cost of its own would achieve: frames arriving every `intervalMs` (a
 * camera's pace) served one at a time by a model that takes `serviceMs[k]` for frame k. A frame
 * that arrives while the model is still busy waits (Lindley's recursion:
 * wait[k+1] = max(0, wait[k] + service[k] − interval)). At 80 % of saturation the model's own
 * slow runs make the next frames wait, so even this ideal has a p99 above the model's p99; the
 * bench compares the real pipeline with it to separate queueing from pipeline overhead.
 */
export function idealLatencies(serviceMs: readonly number[], intervalMs: number, frames: number): number[] {
  if (serviceMs.length === 0) throw new Error('idealLatencies: no service times');
  if (!(intervalMs > 0)) throw new Error(`idealLatencies: interval ${intervalMs} ms must be positive`);
  const out: number[] = [];
  let wait = 0;
  for (let k = 0; k < frames; k++) {
    const s = serviceMs[k % serviceMs.length]!;
    out.push(wait + s);
    wait = Math.max(0, wait + s - intervalMs);
  }
  return out;
}

/** One judged frame of a real run: when it arrived, and the engine run (batch) that judged it. */
export interface ServedFrame {
  readonly arrivalMs: number;
  /** Identifies the engine run: frames judged in one batch share it (and its runMs). */
  readonly run: number;
  readonly runMs: number;
}

/**
 * What a pipeline with no cost of its own would have achieved on exactly this run: the same
 * arrivals, the same batches and the same model run times, each run starting when its last frame
 * has arrived and the previous run has ended. Whatever the real latency has on top of this is the
 * pipeline's own doing — including the extra queueing its hand-offs cause — and none of it is the
 * model's, however much the machine made the model's run times vary. Frames in arrival order.
 */
export function zeroCostLatencies(frames: readonly ServedFrame[]): number[] {
  const out: number[] = new Array<number>(frames.length);
  let free = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < frames.length; ) {
    let j = i + 1;
    while (j < frames.length && frames[j]!.run === frames[i]!.run) j++;
    let ready = free;
    for (let k = i; k < j; k++) ready = Math.max(ready, frames[k]!.arrivalMs);
    free = ready + frames[i]!.runMs;
    for (let k = i; k < j; k++) out[k] = free - frames[k]!.arrivalMs;
    i = j;
  }
  return out;
}
