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
