import type { MqttClient } from 'mqtt';
import { Observable } from 'rxjs';
import { z } from 'zod';
import { LinewatchError } from '../../errors.js';
import { productNameSchema } from '../../pipeline/products/schema.js';
import type { Trigger } from '../../pipeline/triggers.js';

/**
 * `<root>/trigger`: the PLC announces each part it fires the camera for.
 * Payload (JSON): `{ "partId": "A-1042", "encoderPos": 183400, "at": 1763800000123, "triggerId": "t-77", "product": "bracket-a" }`;
 * only partId is required; `product` is this part's product (see Trigger.product). `at` is ms since epoch or an ISO 8601 time; absent = the receive time.
 */
export const triggerMessageSchema = z.strictObject({
  partId: z.union([z.string().min(1), z.number().int()]).transform(String),
  encoderPos: z.number().finite().optional(),
  at: z
    .union([z.number().positive(), z.iso.datetime({ offset: true })])
    .transform((v) => (typeof v === 'number' ? v : Date.parse(v)))
    .optional(),
  triggerId: z.string().min(1).optional(),
  product: productNameSchema.optional(),
});

/**
 * Pure: a payload → a Trigger, or LW_ERR_TRIGGER_INVALID saying what is wrong.
 *
 * @example
 * parseTrigger(Buffer.from('{"partId":"A-1","encoderPos":120}'), 1000) // { partId: 'A-1', encoderPos: 120, at: 1000 }
 */
export function parseTrigger(payload: Buffer | string, receivedAtMs: number): Trigger {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch (err) {
    throw new LinewatchError('LW_ERR_TRIGGER_INVALID', `trigger payload is not JSON: ${String(payload).slice(0, 80)}`, { cause: err });
  }
  const r = triggerMessageSchema.safeParse(json);
  if (!r.success) {
    throw new LinewatchError('LW_ERR_TRIGGER_INVALID', `trigger payload: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
  }
  const m = r.data;
  const t: { partId: string; at: number; encoderPos?: number; triggerId?: string; product?: string } = { partId: m.partId, at: m.at ?? receivedAtMs };
  if (m.encoderPos !== undefined) t.encoderPos = m.encoderPos;
  if (m.triggerId !== undefined) t.triggerId = m.triggerId;
  if (m.product !== undefined) t.product = m.product;
  return t;
}

export interface TriggerSubscriberOptions {
  /** QoS of the subscription. Default 1 (a lost trigger is an unmatched part). */
  readonly qos?: 0 | 1;
  /** Told about each malformed message (it is skipped, the stream goes on). */
  readonly onInvalid?: (err: LinewatchError) => void;
  /** Wall clock for triggers without `at`, in ms. Default Date.now. */
  readonly now?: () => number;
}

/**
 * Triggers from `topic` on a connected mqtt.js client (subscribes on subscription, unsubscribes on
 * teardown). The client's own reconnects keep the subscription (mqtt.js resubscribes).
 */
export function subscribeTriggers(client: MqttClient, topic: string, options: TriggerSubscriberOptions = {}): Observable<Trigger> {
  return new Observable<Trigger>((sub) => {
    const now = options.now ?? Date.now;
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      let trigger: Trigger;
      try {
        trigger = parseTrigger(payload, now());
      } catch (err) {
        if (err instanceof LinewatchError) options.onInvalid?.(err);
        return;
      }
      sub.next(trigger);
    };
    client.on('message', onMessage);
    client.subscribe(topic, { qos: options.qos ?? 1 }, (err) => {
      if (err) sub.error(err);
    });
    return () => {
      client.off('message', onMessage);
      if (client.connected) client.unsubscribe(topic);
    };
  });
}
