import type { Observable } from 'rxjs';
import type { Manifest } from '../../models/manifest.js';
import type { BatchingSnapshot } from '../../pipeline/batching.js';
import type { JudgedFrame } from '../../pipeline/inspect/index.js';
import type { ProductChange, StationCounters, StationHealth } from '../../pipeline/station.js';
import type { Trigger } from '../../pipeline/triggers.js';
import type { Verdict } from '../../pipeline/verdict.js';

/**
 * What the MQTT interface reads from the runtime's Station, in the Station's own types (a test
 * station implements the same). Configuration changes do not go through here: the composition
 * root (src/daemon.ts) owns them.
 */
export interface StationPort {
  readonly verdicts$: Observable<Verdict>;
  counters(): StationCounters;
  health(): StationHealth;
  /** Judged frames with their maps, for …/heatmap; absent = no heatmaps. */
  readonly judged$?: Observable<JudgedFrame>;
  /** The model in force: its pixel calibration scales the heatmap colours. */
  activeManifest?(): Pick<Manifest, 'calibration'>;
  /** A changeover from `<root>/<camera>/product` (null: cleared); absent = those topics are not subscribed. */
  setProduct?(cameraId: string, product: string | null): ProductChange;
  /** Takes the PLC's triggers from `<root>/trigger`; absent = the topic is not subscribed. */
  pushTrigger?(trigger: Trigger): void;
  /** What batching in front of the model did (batches, runs, fixed-batch padding and splits); absent = not reported. */
  batching?(): BatchingSnapshot;
}

/** The station counters as named numbers (optional trigger counts only once triggers were used). */
export function readCounters(c: StationCounters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === 'number') out[k] = v;
  return out;
}
