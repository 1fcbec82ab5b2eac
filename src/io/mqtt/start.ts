import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import { errorMessage } from '../../errors.js';
import { configHash } from '../../config/remote/canonical.js';
import { parseEd25519PublicKey } from '../../config/remote/signature.js';
import type { Config } from '../../config/schema.js';
import type { SectionReport, Sink } from '../../pipeline/sinks/sink.js';
import { systemClock, type Clock } from './clock.js';
import { ControlPlane, type ActiveConfig, type ConfigAck } from './control-plane.js';
import { loadCredentials } from './credentials.js';
import { FileOutboxStore } from './file-outbox-store.js';
import { heatmapJpeg } from './heatmap.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { MqttLink } from './link.js';
import { offlineWillPayload, type ConfigStatus } from './messages.js';
import { MemoryOutboxStore, Outbox, type OutboxStore } from './outbox.js';
import { SparkplugNode } from './sparkplug.js';
import { VerdictPublisher } from './publisher.js';
import type { StationPort } from './station-port.js';
import { StatusReporter } from './status.js';
import { cameraOfProductTopic, parseProductMessage, productTopicFilter } from './product-topic.js';
import { parseTrigger } from './trigger-subscriber.js';
import { topicsFor, type Topics } from './topics.js';

export interface StartMqttOptions {
  /**
   * Handles …/config/set (src/daemon.ts builds it around its reconfiguration). Default: updates
   * are refused, `remoteConfig` notwithstanding (a link without a composition root behind it).
   */
  readonly controlPlane?: ControlPlane<Config>;
  /** What …/status says about the configuration. Default: the control plane's active version and hash. */
  readonly configStatus?: () => ConfigStatus;
  readonly clock?: Clock;
  /** Default: mqtt.queue.file when set, else in memory. */
  readonly outboxStore?: OutboxStore;
  /** How long close() waits for unacknowledged QoS 1 messages. Default 2 000 ms. */
  readonly drainTimeoutMs?: number;
}

/** The running MQTT interface of one station. */
export interface MqttHandle {
  readonly brokerUrl: string;
  readonly topics: Topics;
  readonly link: MqttLink;
  readonly publisher: VerdictPublisher;
  readonly status: StatusReporter;
  readonly controlPlane: ControlPlane<Config> | null;
  /** The Sparkplug B edge node (its own connection) when mqtt.sparkplug.enabled. */
  readonly sparkplug: SparkplugNode | null;
  /** The `mqtt` section's owner: publishing options hot, the connection at the next start. */
  readonly sink: Sink;
  /** Publishes an ack on …/config/ack (and, when the active configuration changed, …/config/state). */
  publishAck(ack: ConfigAck): void;
  /** Publishes the final status (offline), disconnects, stops the embedded broker. */
  close(): Promise<void>;
}

/** The parsed `remoteConfig.publicKeys`; throws naming the key that does not parse. */
export function parsePublicKeys(keys: Readonly<Record<string, string>>): Map<string, ReturnType<typeof parseEd25519PublicKey>> {
  const out = new Map<string, ReturnType<typeof parseEd25519PublicKey>>();
  for (const [id, text] of Object.entries(keys)) {
    try {
      out.set(id, parseEd25519PublicKey(text));
    } catch (err) {
      throw new Error(`mqtt.remoteConfig.publicKeys.${id}: ${errorMessage(err)}`);
    }
  }
  return out;
}

/** The configuration as a control plane's starting point, when nothing was accepted remotely. */
export function fileActive(config: Config): ActiveConfig<Config> {
  return { version: numericVersion(config), hash: configHash(config), config, appliedAtMs: Date.now(), by: 'file' };
}

/**
 * Connects the station to the line: verdicts out (reject, result, heatmap, status, Sparkplug),
 * triggers and configuration updates in (handed to the control plane). Returns at once; the broker
 * may be away (messages wait in the outbox).
 *
 * @example
 * const mqtt = await startMqtt(config, station, logger, { controlPlane });
 * // … on SIGTERM, after station.stop():
 * await mqtt.close();
 */
export async function startMqtt(config: Config, station: StationPort, logger: Logger, options: StartMqttOptions = {}): Promise<MqttHandle> {
  const clock = options.clock ?? systemClock;
  const m = config.mqtt;
  const credentials = loadCredentials(m);
  const controlPlane = options.controlPlane ?? null;
  let embedded: EmbeddedBroker | null = null;
  let url = m.url;
  if (url === undefined) {
    embedded = await startEmbeddedBroker(0);
    url = embedded.url;
    logger.info({ url }, 'no mqtt.url configured: embedded demo broker started');
  }
  const topics = topicsFor(m);
  const fileStore = options.outboxStore === undefined && m.queue.file !== undefined ? new FileOutboxStore(m.queue.file) : null;
  const outbox = new Outbox(options.outboxStore ?? fileStore ?? new MemoryOutboxStore(), m.queue);
  const configStatus =
    options.configStatus ?? ((): ConfigStatus => (controlPlane !== null ? { version: controlPlane.active.version, hash: controlPlane.active.hash } : { version: numericVersion(config), hash: configHash(config) }));

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
      ...(controlPlane !== null ? [{ topic: topics.configState, payload: controlPlane.statePayload(), retain: true }] : []),
    ],
    // The trigger topic is subscribed whenever the station takes triggers: a remote configuration may enable them later.
    subscriptions: [
      ...(m.remoteConfig.enabled && controlPlane !== null ? [topics.configSet] : []),
      ...(station.pushTrigger !== undefined ? [topics.trigger] : []),
      ...(station.setProduct !== undefined ? [productTopicFilter(topics.root)] : []),
    ],
    clock,
  });
  const publisher = new VerdictPublisher(link, topics, m, clock);
  status = new StatusReporter({ station, publisher, link, config: configStatus }, topics.status, m.status.heartbeatMs, clock);
  const reporter = status;

  const publishAck = (ack: ConfigAck): void => {
    link.publishReliable({ topic: topics.configAck, payload: JSON.stringify(ack), retain: false }, null);
    if (controlPlane !== null && (ack.accepted || ack.rolledBack)) link.publishReliable({ topic: topics.configState, payload: controlPlane.statePayload(), retain: true }, null);
    // The status says at once what runs now (version, probation, rollback).
    if (link.state === 'online') link.publishVolatile(reporter.message('online'));
  };

  /** `<root>/<camera>/product`: a changeover, logged, and in …/status at once (known or not). */
  const changeover = (camera: string, payload: Buffer): void => {
    if (station.setProduct === undefined) return;
    let product: string | null;
    try {
      product = parseProductMessage(payload);
    } catch (err) {
      logger.warn({ err: errorMessage(err), camera }, 'product message skipped: the camera keeps its product');
      return;
    }
    const r = station.setProduct(camera, product);
    if (!r.ok) logger.warn({ camera, product, reason: r.reason }, 'product message skipped');
    else if (link.state === 'online' && r.running?.product !== r.before?.product) link.publishVolatile(reporter.message('online'));
  };

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
    const productCamera = cameraOfProductTopic(topics.root, topic);
    if (productCamera !== null) {
      changeover(productCamera, payload);
      return;
    }
    if (topic !== topics.configSet || controlPlane === null) return;
    void controlPlane.handle(payload).then(
      (ack) => {
        publishAck(ack);
        if (ack.accepted) logger.info({ version: ack.version, hash: ack.activeHash, sections: ack.sections }, 'remote configuration applied');
        else logger.warn({ version: ack.version, reasons: ack.reasons }, 'remote configuration refused');
      },
      (err: unknown) => logger.error({ err: errorMessage(err) }, 'remote configuration not handled'),
    );
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

  // Heatmaps: subscribed only while enabled, so that judged$ copies no maps otherwise.
  let heatSub: Subscription | null = null;
  const heatmaps = (on: boolean): void => {
    const judged$ = station.judged$;
    if (on && heatSub === null && judged$ !== undefined) {
      heatSub = judged$.subscribe({
        next: (j) => {
          if (j.verdict.verdict === 'error' || j.verdict.verdict === 'dropped' || !publisher.takeHeatmapSlot()) return;
          const pixel = station.activeManifest?.().calibration.pixel ?? { min: 0, max: 1 };
          heatmapJpeg(j, pixel).then(
            (jpeg) => publisher.publishHeatmap(jpeg),
            (err: unknown) => logger.warn({ err: errorMessage(err), seq: j.verdict.seq }, 'heatmap not rendered'),
          );
        },
      });
    } else if (!on && heatSub !== null) {
      heatSub.unsubscribe();
      heatSub = null;
    }
  };
  heatmaps(m.heatmap.enabled);

  const sparkplug = m.sparkplug.enabled
    ? new SparkplugNode({ url, clientId: `${clientId}-spb`, mqtt: m, credentials, status: reporter, clock, stateDir: m.remoteConfig.stateDir })
    : null;

  const sink: Sink = {
    section: 'mqtt',
    reconfigure: async (next, paths) => {
      const hot: string[] = [];
      const restart: string[] = [];
      for (const p of paths) (isHotMqttPath(p) ? hot : restart).push(p);
      const out: SectionReport[] = [];
      if (hot.length > 0) {
        const rc = next.mqtt.remoteConfig;
        let keys;
        try {
          keys = parsePublicKeys(rc.publicKeys);
        } catch (err) {
          return [{ section: 'mqtt', outcome: 'refused', paths: hot, reason: errorMessage(err) }];
        }
        publisher.reconfigure(next.mqtt);
        reporter.setHeartbeatMs(next.mqtt.status.heartbeatMs);
        heatmaps(next.mqtt.heatmap.enabled);
        controlPlane?.setVerification(rc.requireSignature, keys);
        out.push({ section: 'mqtt', outcome: 'applied', paths: hot });
      }
      if (restart.length > 0) out.push({ section: 'mqtt', outcome: 'restart-needed', paths: restart });
      return out;
    },
    close: async () => {},
  };

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
    sparkplug,
    sink,
    publishAck,
    close: async () => {
      if (closed) return;
      closed = true;
      sub.unsubscribe();
      heatmaps(false);
      reporter.stop();
      await drain(outbox, link, options.drainTimeoutMs ?? 2_000);
      await link.close(reporter.message('offline'));
      if (sparkplug !== null) await sparkplug.close();
      fileStore?.close();
      if (embedded !== null) await embedded.close();
    },
  };
}

/** The `mqtt` fields its owner applies while running (src/config/reload.ts marks them hot). */
const HOT_MQTT = ['mqtt.reject', 'mqtt.result', 'mqtt.heatmap', 'mqtt.status', 'mqtt.remoteConfig.requireSignature', 'mqtt.remoteConfig.publicKeys', 'mqtt.remoteConfig.probationMs', 'mqtt.remoteConfig.rollbackAfterErrors'];

function isHotMqttPath(p: string): boolean {
  return HOT_MQTT.some((h) => p === h || p.startsWith(`${h}.`));
}

async function drain(outbox: Outbox, link: MqttLink, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (outbox.counters().depth > 0 && link.state === 'online' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
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
export function stampConfigVersion(candidate: unknown, version: number): unknown {
  if (typeof candidate !== 'object' || candidate === null || Array.isArray(candidate)) return candidate;
  return { ...candidate, version: String(version) };
}
