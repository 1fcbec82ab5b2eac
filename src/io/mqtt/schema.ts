import { z } from 'zod';

/**
 * The `mqtt` section of the configuration. Owned by the MQTT interface (src/io/mqtt/);
 * src/config/schema.ts only places it. Absent broker URL in the demo = embedded aedes broker.
 */
export const mqttConfigSchema = z
  .object({
    /** mqtt://host:port or mqtts://…; absent: the demo starts an embedded broker on 127.0.0.1. */
    url: z.string().optional(),
    /** Topic root linewatch/<site>/<line>/<station>. */
    site: z.string().min(1).default('site'),
    line: z.string().min(1).default('line'),
    station: z.string().min(1).default('station'),
  })
  .default({ site: 'site', line: 'line', station: 'station' });

export type MqttConfig = z.output<typeof mqttConfigSchema>;
