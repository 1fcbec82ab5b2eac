import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** A separate MQTT client that records what arrived, as a PLC on the line would see it. */
export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly qos: number;
  readonly expiry: number | undefined;
}

export interface Observer {
  readonly client: MqttClient;
  readonly messages: Received[];
  on(topic: string): Received[];
  json<T = Record<string, unknown>>(topic: string): T[];
  /** Resolves when `pred` holds, polling; rejects after timeoutMs naming `what`. */
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function observe(url: string, topics: string[], extra: IClientOptions = {}): Promise<Observer> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 100, clean: true, ...extra });
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload, retain: packet.retain, qos: packet.qos, expiry: packet.properties?.messageExpiryInterval });
  });
  await client.subscribeAsync(topics, { qos: 1 });
  const on = (t: string): Received[] => messages.filter((m) => m.topic === t);
  return {
    client,
    messages,
    on,
    json: <T>(t: string) => on(t).map((m) => JSON.parse(m.payload.toString()) as T),
    until: async (pred, what, timeoutMs = 5_000) => {
      const until = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      await client.endAsync(true);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
