import { z } from 'zod';

/**
 * `cameras[].triggers`: pair the PLC's triggers from `<root>/trigger` with this camera's frames
 * (src/pipeline/triggers.ts). Cold: a change restarts the camera's pipeline.
 */
export const triggerConfigSchema = z.strictObject({
  /** Attach triggers to this camera's frames. Default true when the section is present. */
  enabled: z.boolean().default(true).describe('attach the triggers from <root>/trigger to this camera\'s frames'),
  /** Longest time between a trigger and its frame, either way, in ms. Default 500. */
  timeoutMs: z.number().int().min(1).max(600_000).default(500).describe('longest time between a trigger and its frame, either way, in ms'),
  /** How much later than the capture a trigger's `at` may be (PLC ↔ station clock skew), in ms. Default 20. */
  skewMs: z.number().int().min(0).max(600_000).default(20).describe('how much later than the capture a trigger may be stamped, in ms'),
});

export type TriggerConfig = z.output<typeof triggerConfigSchema>;
