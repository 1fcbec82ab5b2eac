import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { z } from 'zod';
import { errorMessage } from '../../errors.js';
import { configHash } from '../../config/remote/canonical.js';
import { readAcceptedConfig } from '../../config/remote/persist.js';
import { parseEd25519PublicKey } from '../../config/remote/signature.js';
import { startHttpServer, type HttpServer } from '../http/server.js';
import { systemClock, type Clock } from './clock.js';
import { ControlPlane, type ActiveConfig } from './control-plane.js';
import { loadCredentials } from './credentials.js';
import { FileOutboxStore } from './file-outbox-store.js';
import { heatmapJpeg } from './heatmap.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { MqttLink } from './link.js';
import { offlineWillPayload } from './messages.js';
import { MemoryOutboxStore, Outbox, type OutboxStore } from './outbox.js';
import { SparkplugNode } from './sparkplug.js';
import { VerdictPublisher } from './publisher.js';
import type { MqttConfig } from './schema.js';
import { applyRefusal, type StationPort } from './station-port.js';
import { StatusReporter } from './status.js';
import { parseTrigger } from './trigger-subscriber.js';
import { topicsFor, type Topics } from './topics.js';

export interface StartMqttOptions<C> {
  /** The configuration schema (src/config/schema.ts): remote updates are validated by it. */
  readonly configSchema: z.ZodType<C>;
  readonly clock?: Clock;
  /** Default: mqtt.queue.file when set, else in memory. */
  readonly outboxStore?: OutboxStore;
  /** How long close() waits for unacknowledged QoS 1 messages. Default 2 000 ms. */
  readonly drainTimeoutMs?: number;
}

/** The running MQTT interface of one station. */
export interface MqttHandle<C> {
  readonly brokerUrl: string;
  readonly topics: Topics;
  readonly link: MqttLink;
  readonly publisher: VerdictPublisher;
  readonly status: StatusReporter;
  readonly controlPlane: ControlPlane<C>;
  /** Loopback /healthz and /metrics when mqtt.http.enabled. */
  readonly http: HttpServer | null;
  /** The Sparkplug B edge node (its own connection) when mqtt.sparkplug.enabled. */
  readonly sparkplug: SparkplugNode | null;
  /** Publishes the final status (offline), disconnects, stops the embedded broker. */
  close(): Promise<void>;
}

/**
 * Connects the station to the line: verdicts out (reject, result, status), configuration in. Returns
 * at once; the broker may be away (messages wait in the outbox). When the state directory holds a
 * configuration accepted earlier over MQTT, it is applied first (it is newer than the file).
 *
 * @example
 * const mqtt = await startMqtt(config, station, logger, { configSchema });
 * // … on SIGTERM, after station.stop():
 * await mqtt.close();
 */
export async function startMqtt<C extends { mqtt: MqttConfig }>(
  config: C,
  station: StationPort<C>,
  logger: Logger,
  options: StartMqttOptions<C>,
): Promise<MqttHandle<C>> {
  const clock = options.clock ?? systemClock;
  const m = config.mqtt;
  const rc = m.remoteConfig;
  const credentials = loadCredentials(m);
  const publicKeys = new Map<string, ReturnType<typeof parseEd25519PublicKey>>();
  for (const [id, text] of Object.entries(rc.publicKeys)) publicKeys.set(id, parseEd25519PublicKey(text));

  const topics = topicsFor(m);
  const initial = await restoreAccepted(config, station, options.configSchema, rc.stateDir, logger);

  let embedded: EmbeddedBroker | null = null;
  let url = m.url;
  if (url === undefined) {
    embedded = await startEmbeddedBroker(0);
    url = embedded.url;
    logger.info({ url }, 'no mqtt.url configured: embedded demo broker started');
  }
  const fileStore = options.outboxStore === undefined && m.queue.file !== undefined ? new FileOutboxStore(m.queue.file) : null;
  const outbox = new Outbox(options.outboxStore ?? fileStore ?? new MemoryOutboxStore(), m.queue);
  const controlPlane = new ControlPlane<C>({
    schema: options.configSchema,
    initial,
    requireSignature: rc.requireSignature,
    publicKeys,
    station: topics.root,
    stateDir: rc.stateDir,
    apply: (next) => station.applyConfig(next),
    clock,
    stampVersion: stampConfigVersion,
  });

  // Status needs the link and the link's birth message needs status: tie them through a late binding.
  let status: StatusReporter | null = null;
  const clientId = m.clientId ?? `linewatch-${m.station}`;
  const link = new MqttLink({
    url,
    clientId,
    protocolVersion: m.protocolVersion,
    keepaliveS: m.keepaliveS,
    connectTimeoutMs: m.connectTimeoutMs,
    credentials,
    reconnect: m.reconnect,
    outbox,
    will: () => ({ topic: topics.status, payload: offlineWillPayload(), retain: true }),
    onConnectMessages: () => [
      ...(status !== null ? [status.message('online')] : []),
      { topic: topics.configState, payload: controlPlane.statePayload(), retain: true },
    ],
    // The trigger topic is subscribed whenever the station takes triggers: a remote configuration may enable them later.
    subscriptions: [...(rc.enabled ? [topics.configSet] : []), ...(station.pushTrigger !== undefined ? [topics.trigger] : [])],
    clock,
  });
  const publisher = new VerdictPublisher(link, topics, m, clock);
  status = new StatusReporter(
    { station, publisher, link, config: () => ({ version: controlPlane.active.version, hash: controlPlane.active.hash }) },
    topics.status,
    m.status.heartbeatMs,
    clock,
  );
  const reporter = status;

  link.on('state', (s) => logger.info({ broker: url, state: s }, 'mqtt link state'));
  link.on('error', (err) => logger.warn({ err: errorMessage(err) }, 'mqtt'));
  link.on('message', (topic, payload) => {
    if (topic === topics.trigger) {
      try {
        // Date.now, not the link's clock: frames are stamped in that domain and triggers are paired with them.
        station.pushTrigger?.(parseTrigger(payload, Date.now()));
      } catch (err) {
        logger.warn({ err: errorMessage(err), topic }, 'trigger skipped');
      }
      return;
    }
    if (topic !== topics.configSet) return;
    void controlPlane.handle(payload).then((ack) => {
      link.publishReliable({ topic: topics.configAck, payload: JSON.stringify(ack), retain: false }, null);
      if (!ack.accepted) {
        logger.warn({ version: ack.version, reasons: ack.reasons }, 'remote configuration refused');
        return;
      }
      const next = controlPlane.active.config;
      publisher.reconfigure(next.mqtt);
      reporter.setHeartbeatMs(next.mqtt.status.heartbeatMs);
      link.publishReliable({ topic: topics.configState, payload: controlPlane.statePayload(), retain: true }, null);
      logger.info({ version: ack.version, hash: ack.activeHash }, 'remote configuration applied');
    });
  });

  const sub: Subscription = station.verdicts$.subscribe({
    next: (v) => {
      try {
        publisher.publish(v);
      } catch (err) {
        // One unpublishable verdict must not end the subscription for all the ones after it.
        logger.error({ err: errorMessage(err), seq: v.seq }, 'verdict not published');
      }
    },
  });

  // Heatmaps: subscribed only when enabled at start, so that judged$ copies no maps otherwise.
  const judged$ = station.judged$;
  const heatSub: Subscription | null =
    m.heatmap.enabled && judged$ !== undefined
      ? judged$.subscribe({
          next: (j) => {
            if (j.verdict.verdict === 'error' || j.verdict.verdict === 'dropped' || !publisher.takeHeatmapSlot()) return;
            const pixel = station.activeManifest?.().calibration.pixel ?? { min: 0, max: 1 };
            heatmapJpeg(j, pixel).then(
              (jpeg) => publisher.publishHeatmap(jpeg),
              (err: unknown) => logger.warn({ err: errorMessage(err), seq: j.verdict.seq }, 'heatmap not rendered'),
            );
          },
        })
      : null;

  const http = m.http.enabled
    ? await startHttpServer({ host: m.http.host, port: m.http.port, station, link, publisher, status: reporter })
    : null;

  const sparkplug = m.sparkplug.enabled
    ? new SparkplugNode({ url, clientId: `${clientId}-spb`, mqtt: m, credentials, status: reporter, clock })
    : null;

  link.start();
  reporter.start();
  sparkplug?.start();

  let closed = false;
  return {
    brokerUrl: url,
    topics,
    link,
    publisher,
    status: reporter,
    controlPlane,
    http,
    sparkplug,
    close: async () => {
      if (closed) return;
      closed = true;
      sub.unsubscribe();
      heatSub?.unsubscribe();
      reporter.stop();
      await drain(outbox, link, options.drainTimeoutMs ?? 2_000);
      await link.close(reporter.message('offline'));
      if (sparkplug !== null) await sparkplug.close();
      fileStore?.close();
      if (http !== null) await http.close();
      if (embedded !== null) await embedded.close();
    },
  };
}

async function drain(outbox: Outbox, link: MqttLink, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (outbox.counters().depth > 0 && link.state === 'online' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The configuration accepted over MQTT before a restart, applied over the file's; else the file's as version 0. */
async function restoreAccepted<C>(
  fileConfig: C,
  station: StationPort<C>,
  schema: z.ZodType<C>,
  stateDir: string,
  logger: Logger,
): Promise<ActiveConfig<C>> {
  const fromFile: ActiveConfig<C> = { version: numericVersion(fileConfig), hash: configHash(fileConfig), config: fileConfig, appliedAtMs: Date.now(), by: 'file' };
  const saved = readAcceptedConfig(stateDir);
  if (saved === null) return fromFile;
  const parsed = schema.safeParse(saved.config);
  if (!parsed.success) {
    logger.error({ stateDir, version: saved.version }, 'persisted remote configuration no longer validates; running the file configuration');
    return { ...fromFile, version: Math.max(fromFile.version, saved.version) };
  }
  if (configHash(parsed.data) !== configHash(fileConfig)) {
    try {
      const refusal = applyRefusal(await station.applyConfig(parsed.data));
      if (refusal.length > 0) throw new Error(refusal.join('; '));
    } catch (err) {
      logger.error({ err: errorMessage(err), version: saved.version }, 'persisted remote configuration failed to apply; running the file configuration');
      return { ...fromFile, version: Math.max(fromFile.version, saved.version) };
    }
  }
  logger.info({ version: saved.version, by: saved.by }, 'restored the remote configuration accepted before the restart');
  return { version: saved.version, hash: saved.hash, config: parsed.data, appliedAtMs: saved.appliedAtMs, by: saved.by };
}

/**
 * The configuration's own `version` (a string in src/config/schema.ts) as the control plane's
 * integer: '7' → 7; anything else → 0, so that the first remote update may be version 1.
 */
export function numericVersion(config: unknown): number {
  const v = typeof config === 'object' && config !== null ? (config as Record<string, unknown>)['version'] : undefined;
  return typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : 0;
}

/** Remote updates carry their version into the configuration: verdicts then say which one judged them. */
function stampConfigVersion(candidate: unknown, version: number): unknown {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) return candidate;
  return { ...candidate, version: String(version) };
}
