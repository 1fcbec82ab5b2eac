import type { Config } from '../../config/schema.js';

/**
 * What the owner of a configuration section says after a change: applied (in force from the next
 * frame), needs a restart of linewatch (accepted, in force from the next start), or refused (the
 * running one stays; `reason` says why). The ack on …/config/ack lists one per touched section.
 */
export type SectionOutcome = 'applied' | 'restart-needed' | 'refused';

export interface SectionReport {
  /** The section, as a configuration path: `decide`, `sinks.ngImages`, `mqtt`, … */
  readonly section: string;
  readonly outcome: SectionOutcome;
  /** The changed fields of this section. */
  readonly paths: readonly string[];
  readonly reason?: string;
}

/**
 * One consumer of verdicts (console, NG images, MQTT, …) as the composition root (src/daemon.ts)
 * sees it. `reconfigure` builds and checks whatever the new settings need before the old ones go,
 * then swaps; it never throws, a failure is a `refused` report with the running sink unchanged.
 */
export interface Sink {
  /** The configuration section it owns (`sinks.console`, …). */
  readonly section: string;
  /** `paths`: the changed fields of its section. Reports per outcome (a section may be part applied, part for the next start). */
  reconfigure(next: Config, paths: readonly string[]): Promise<SectionReport[]>;
  /** Finishes what is under way (writes, publishes) and lets go of files and connections. */
  close(): Promise<void>;
}
