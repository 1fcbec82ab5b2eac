import { z } from 'zod';

/**
 * The `mqtt` section of the configuration. Owned by the MQTT interface (src/io/mqtt/);
 * src/config/schema.ts only places it. No broker URL = the demo's embedded broker on 127.0.0.1.
 *
 * Secrets never live in the configuration: a password is named by a file or an environment
 * variable, so the configuration can be published back (config/state, acks) without leaking it.
 */

/** Longest file path accepted (Linux PATH_MAX). */
const PATH_MAX = 4096;

/** One level of a topic: no MQTT wildcard or separator. */
const topicPart = z.string().min(1).max(128).regex(/^[^/#+]+$/, 'no / # + in topic parts');

const secretRefSchema = z
  .strictObject({
    /** Read the secret from this file (trailing newline stripped). */
    file: z.string().min(1).max(PATH_MAX).optional(),
    /** Read the secret from this environment variable. */
    env: z.string().min(1).max(256).optional(),
  })
  .refine((s) => (s.file === undefined) !== (s.env === undefined), {
    message: 'name exactly one of file or env',
  });

const tlsSchema = z.strictObject({
  /** PEM file of the CA that signed the broker's certificate. */
  caFile: z.string().min(1).max(PATH_MAX).optional(),
  /** PEM client certificate and key, for brokers that require them. */
  certFile: z.string().min(1).max(PATH_MAX).optional(),
  keyFile: z.string().min(1).max(PATH_MAX).optional(),
  /** Check the broker's certificate against the CA and its host name. Default true. */
  rejectUnauthorized: z.boolean().default(true),
});

const reconnectSchema = z.strictObject({
  /** First retry after this delay; doubles each attempt. Default 500 ms. */
  initialDelayMs: z.number().int().min(10).max(600_000).default(500),
  /** Ceiling of the delay. Default 30 000 ms. */
  maxDelayMs: z.number().int().min(10).max(3_600_000).default(30_000),
  /** Fraction of the delay drawn at random (0 = fixed, 1 = full jitter). Default 0.5. */
  jitter: z.number().min(0).max(1).default(0.5),
});

const queueSchema = z.strictObject({
  /** QoS 1 messages kept while the broker is away (and until acknowledged). Default 10 000. */
  maxMessages: z.number().int().min(1).max(1_000_000).default(10_000),
  /** When full: drop the oldest waiting message, or refuse the new one. Both are counted. Default drop-oldest. */
  overflow: z.enum(['drop-oldest', 'drop-newest']).default('drop-oldest'),
  /** Keep waiting messages in this file so that they survive a restart of linewatch. Default: in memory. */
  file: z.string().min(1).max(PATH_MAX).optional(),
});

const rejectSchema = z.strictObject({
  /** QoS of …/reject. 1 (at least once): receivers dedupe on partId + seq. */
  qos: z.literal(1).default(1),
  /**
   * Time from capture until the ejector passes the part, when the frame carries no deadline of its
   * own. A reject after this is published to …/result as late, never to …/reject. Default 2 000 ms.
   */
  deadlineMs: z.number().int().min(1).max(3_600_000).default(2_000),
});

const resultSchema = z.strictObject({
  /** QoS of …/result. Default 0. */
  qos: z.union([z.literal(0), z.literal(1)]).default(0),
  /** Publish one verdict in N (1 = every frame, 0 = none). Rejects, errors and late verdicts are always published. */
  sampleEvery: z.number().int().min(0).max(1_000_000).default(1),
});

const heatmapSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** At most this many heatmaps per second; the rest are skipped. Default 1. */
  maxPerSecond: z.number().positive().max(30).default(1),
});

const statusSchema = z.strictObject({
  /** Retained status republished this often (rates, counters). Default 5 000 ms. */
  heartbeatMs: z.number().int().min(100).max(3_600_000).default(5_000),
});

const sparkplugSchema = z.strictObject({
  enabled: z.boolean().default(false),
  group: topicPart.default('linewatch'),
  node: topicPart.optional(),
});

const remoteConfigSchema = z.strictObject({
  /** Accept …/config/set at all. Default true. */
  enabled: z.boolean().default(true),
  /** Refuse unsigned updates. Turn off only on a closed test network. Default true. */
  requireSignature: z.boolean().default(true),
  /** Ed25519 public keys (PEM, or base64 of the 32 raw bytes), by key id. */
  publicKeys: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'key ids: 1–64 letters, digits, _ . -'), z.string().min(1).max(4096))
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 public keys')
    .default({}),
  /** Where accepted configurations and their history are kept. Default ./state. */
  stateDir: z.string().min(1).max(PATH_MAX).default('./state'),
  /**
   * How long a remote change must run without failing before it becomes the last known good one;
   * failing within it rolls it back by itself (docs/configuration.md "Last known good"). 0 = no
   * probation. Default 10 000 ms.
   */
  probationMs: z.number().int().min(0).max(600_000).default(10_000),
  /** Consecutive `error` verdicts on one camera, within the probation, that roll a change back. Default 5. */
  rollbackAfterErrors: z.number().int().min(1).max(10_000).default(5),
});

const httpSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** Loopback only unless changed deliberately. Default 127.0.0.1. */
  host: z.string().min(1).max(253).default('127.0.0.1'),
  /** Default 9464 (the Prometheus exporter convention). 0 = any free port. */
  port: z.number().int().min(0).max(65535).default(9464),
});

const mqttObjectSchema = z
  .strictObject({
    /** mqtt://host:port or mqtts://host:port; absent: an embedded broker on 127.0.0.1 (demo only). */
    url: z.url({ protocol: /^(mqtts?|wss?|tcp|ssl|tls)$/ }).max(2048).optional(),
    /** Topic root linewatch/<site>/<line>/<station>. */
    site: topicPart.default('site'),
    line: topicPart.default('line'),
    station: topicPart.default('station'),
    /** Overrides the root entirely (no trailing slash). */
    topicRoot: z.string().min(1).max(512).regex(/^[^#+]*[^/#+]$/, 'no # + and no trailing /').optional(),
    /** Default linewatch-<station>. */
    clientId: z.string().min(1).max(128).optional(),
    /** 5 where the broker speaks it; 4 (= 3.1.1) is also tried automatically when 5 is refused. */
    protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5),
    keepaliveS: z.number().int().min(0).max(3600).default(10),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
    username: z.string().min(1).max(256).optional(),
    password: secretRefSchema.optional(),
    tls: tlsSchema.optional(),
    reconnect: reconnectSchema.prefault({}),
    queue: queueSchema.prefault({}),
    reject: rejectSchema.prefault({}),
    result: resultSchema.prefault({}),
    heatmap: heatmapSchema.prefault({}),
    status: statusSchema.prefault({}),
    sparkplug: sparkplugSchema.prefault({}),
    remoteConfig: remoteConfigSchema.prefault({}),
    http: httpSchema.prefault({}),
  })
  .refine((m) => m.reconnect.maxDelayMs >= m.reconnect.initialDelayMs, {
    path: ['reconnect', 'maxDelayMs'],
    message: 'must be at least reconnect.initialDelayMs',
  });

/** The section, defaulted whole when the configuration has no `mqtt` key. */
export const mqttConfigSchema = mqttObjectSchema.prefault({});

export const defaultMqttConfig = (): MqttConfig => mqttObjectSchema.parse({});

export type MqttConfig = z.output<typeof mqttConfigSchema>;
export type MqttConfigInput = z.input<typeof mqttConfigSchema>;

/**
 * The `mqtt` section with its file paths (TLS files, password file, state directory) passed
 * through `abs`, so that they are relative to the configuration file like the other paths.
 *
 * @example
 * resolveMqttPaths(config.mqtt, (p) => path.resolve(configDir, p))
 */
export function resolveMqttPaths(m: MqttConfig, abs: (p: string) => string): MqttConfig {
  const tls = m.tls;
  return {
    ...m,
    ...(m.password?.file !== undefined ? { password: { file: abs(m.password.file) } } : {}),
    ...(tls !== undefined
      ? {
          tls: {
            ...tls,
            ...(tls.caFile !== undefined ? { caFile: abs(tls.caFile) } : {}),
            ...(tls.certFile !== undefined ? { certFile: abs(tls.certFile) } : {}),
            ...(tls.keyFile !== undefined ? { keyFile: abs(tls.keyFile) } : {}),
          },
        }
      : {}),
    queue: { ...m.queue, ...(m.queue.file !== undefined ? { file: abs(m.queue.file) } : {}) },
    remoteConfig: { ...m.remoteConfig, stateDir: abs(m.remoteConfig.stateDir) },
  };
}
