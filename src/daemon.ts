/**
 * The composition root of `linewatch run`: builds the station, the sinks (console, NG images,
 * summary), the MQTT interface and HTTP, and owns reconfiguration. A configuration change is
 * applied by each touched section's owner — the station (model, cameras, rules), each sink, the
 * MQTT interface — which reports applied, restart needed or refused; a refusal anywhere undoes
 * the rest. An accepted remote change is then on probation and rolled back by itself when the
 * station cannot run it (src/config/remote/probation.ts); at start, a persisted remote
 * configuration that cannot start is set aside (src/config/remote/last-good.ts).
 */
import type { Logger } from 'pino';
import { changesUnder, hasClass, planReload, type ReloadPlan } from './config/reload.js';
import { startOnLastGood, type SetAside } from './config/remote/last-good.js';
import { Probation } from './config/remote/probation.js';
import { configSchema, type Config } from './config/schema.js';
import { errorMessage } from './errors.js';
import { startHttpServer, type HttpServer } from './io/http/server.js';
import { systemClock, type Clock } from './io/mqtt/clock.js';
import { ControlPlane, type ApplyReport, type ConfigAck } from './io/mqtt/control-plane.js';
import type { ConfigStatus } from './io/mqtt/messages.js';
import { fileActive, parsePublicKeys, stampConfigVersion, startMqtt, type MqttHandle } from './io/mqtt/start.js';
import { topicsFor } from './io/mqtt/topics.js';
import { ConsoleSink } from './pipeline/sinks/console.js';
import { NgImagesOwner } from './pipeline/sinks/ng-images-owner.js';
import type { SectionReport, Sink } from './pipeline/sinks/sink.js';
import { SummaryCollector, type SummaryReport } from './pipeline/sinks/summary.js';
import { Station } from './pipeline/station.js';

export interface DaemonOptions {
  /** Folder relative paths of configurations applied later resolve against (the file's). */
  readonly baseDir: string;
  readonly logger: Logger;
  /** Stop each camera after N frames (`run --max-frames`). */
  readonly maxFrames?: number;
  /** `run --json`: one JSON verdict per line whatever sinks.console says. */
  readonly json?: boolean;
  /** Connect to MQTT (and take remote configuration). `run --no-mqtt` = false. */
  readonly mqtt: boolean;
  /** Where console lines go. Default stdout. */
  readonly out?: NodeJS.WritableStream;
  readonly clock?: Clock;
}

export interface DaemonSummary {
  readonly report: SummaryReport;
  /** Cameras that failed for good (missing folder, refused pipeline). */
  readonly failed: readonly string[];
}

/** The sections the station applies (everything but sinks.* and mqtt.*). */
const STATION_SECTIONS = ['version', 'model', 'cameras', 'inference', 'decide', 'products'];

export class Daemon {
  readonly station: Station;
  readonly mqtt: MqttHandle | null;
  readonly http: HttpServer | null;
  readonly controlPlane: ControlPlane<Config> | null;
  readonly console: ConsoleSink;
  readonly ngImages: NgImagesOwner;
  readonly summary: SummaryCollector;
  /** The persisted remote configuration set aside at start, if one was. */
  readonly setAside: SetAside | null;
  private config: Config;
  private readonly opts: DaemonOptions;
  private readonly clock: Clock;
  private probation: Probation | null = null;
  private probationSettled: Promise<void> | null = null;
  /** Whether the last applied change restarted the cameras or swapped the model (their failing then counts on probation). */
  private lastChangeRestarted = false;
  private restartNeeded: string[] = [];
  private lastRollback: ConfigStatus['rolledBack'] = null;

  private constructor(init: {
    station: Station;
    config: Config;
    console: ConsoleSink;
    ngImages: NgImagesOwner;
    setAside: SetAside | null;
    opts: DaemonOptions;
    controlPlane: ControlPlane<Config> | null;
  }) {
    this.station = init.station;
    this.config = init.config;
    this.console = init.console;
    this.ngImages = init.ngImages;
    this.setAside = init.setAside;
    this.opts = init.opts;
    this.clock = init.opts.clock ?? systemClock;
    this.controlPlane = init.controlPlane;
    this.summary = new SummaryCollector();
    this.mqtt = null;
    this.http = null;
  }

  /**
   * Starts on the last good configuration (the file's unless one accepted over MQTT runs), with
   * every consumer listening before the first frame.
   *
   * @example
   * const daemon = await Daemon.start(await loadConfig('line3.yaml'), { baseDir: '.', logger, mqtt: true });
   * await daemon.ended();
   * const { report } = await daemon.stop();
   */
  static async start(fileConfig: Config, opts: DaemonOptions): Promise<Daemon> {
    const clock = opts.clock ?? systemClock;
    const logger = opts.logger;
    const startOn = async (config: Config): Promise<{ station: Station; ng: NgImagesOwner }> => {
      const station = await Station.start(config, {
        logger,
        baseDir: opts.baseDir,
        ...(opts.maxFrames !== undefined ? { maxFramesPerCamera: opts.maxFrames } : {}),
        // Cameras start once the console, NG images and MQTT are listening: no verdict goes unpublished.
        deferCameras: true,
      });
      try {
        const ng = await NgImagesOwner.create(station.activeConfig().sinks.ngImages, station.judged$, () => station.activeManifest().calibration.pixel);
        return { station, ng };
      } catch (err) {
        await station.stop();
        throw new Error(`sinks.ngImages.dir ${config.sinks.ngImages.dir}: ${errorMessage(err)}`);
      }
    };
    const rc = fileConfig.mqtt.remoteConfig;
    const choice = opts.mqtt
      ? await startOnLastGood({
          fileConfig: fileActive(fileConfig),
          stateDir: rc.stateDir,
          schema: configSchema,
          start: startOn,
          nowMs: () => clock.nowMs(),
          warn: (msg, fields) => logger.error(fields, msg),
        })
      : { started: await startOn(fileConfig), active: fileActive(fileConfig), previous: null, versionFloor: 0, onProbation: false, setAside: null };
    const { station, ng } = choice.started;
    const config = choice.active.config;
    const consoleSink = new ConsoleSink(config.sinks.console, { forceJson: opts.json === true, ...(opts.out !== undefined ? { out: opts.out } : {}) });
    let daemon: Daemon | null = null;
    const controlPlane = opts.mqtt
      ? new ControlPlane<Config>({
          schema: configSchema,
          initial: choice.active,
          previous: choice.previous,
          versionFloor: choice.versionFloor,
          onProbation: choice.onProbation,
          requireSignature: config.mqtt.remoteConfig.requireSignature,
          publicKeys: parsePublicKeys(config.mqtt.remoteConfig.publicKeys),
          station: topicsFor(config.mqtt).root,
          stateDir: rc.stateDir,
          apply: (next) => daemon!.reconfigure(next),
          clock,
          stampVersion: stampConfigVersion,
          onAccepted: () => daemon!.watch(daemon!.lastChangeRestarted),
        })
      : null;
    const d = new Daemon({ station, config, console: consoleSink, ngImages: ng, setAside: choice.setAside, opts, controlPlane });
    daemon = d;
    station.verdicts$.subscribe((v) => d.summary.add(v));
    station.verdicts$.subscribe((v) => d.console.offer(v));
    if (opts.mqtt) {
      try {
        const mqtt = await startMqtt(config, station, logger, { controlPlane: controlPlane!, configStatus: () => d.configStatus(), clock });
        (d as { mqtt: MqttHandle | null }).mqtt = mqtt;
        const h = config.mqtt.http;
        if (h.enabled) {
          (d as { http: HttpServer | null }).http = await startHttpServer({ host: h.host, port: h.port, station, link: mqtt.link, publisher: mqtt.publisher, status: mqtt.status });
        }
      } catch (err) {
        await d.stop();
        throw err;
      }
    }
    // A configuration restored at start on probation: it must run like a fresh change.
    if (choice.onProbation) d.watch(true);
    station.begin();
    return d;
  }

  /** The sinks that own configuration sections, the MQTT interface included when connected. */
  private sinks(): Sink[] {
    return [this.console, this.ngImages, ...(this.mqtt !== null ? [this.mqtt.sink] : [])];
  }

  /**
   * Applies a configuration through every touched section's owner. Refused anywhere = undone
   * everywhere, the running configuration stays. Never throws.
   */
  async reconfigure(next: Config): Promise<ApplyReport> {
    const prev = this.config;
    const plan = planReload(prev, next);
    if (plan.level === 'none') return { ok: true, reasons: [], sections: [] };
    const sections: SectionReport[] = [];
    const stationPaths = STATION_SECTIONS.flatMap((s) => changesUnder(plan, s).map((c) => c.path));
    const r = await this.station.applyConfig(next);
    if (!r.ok) {
      return { ok: false, reasons: [...r.reasons], sections: groupBySection(stationPaths).map(([section, paths]) => ({ section, outcome: 'refused', paths, reason: r.reasons.join('; ') })) };
    }
    for (const [section, paths] of groupBySection(stationPaths)) sections.push({ section, outcome: 'applied', paths });
    const applied: Sink[] = [];
    for (const sink of this.sinks()) {
      const paths = changesUnder(plan, sink.section).map((c) => c.path);
      if (paths.length === 0) continue;
      const reports = await sink.reconfigure(next, paths);
      sections.push(...reports);
      const refused = reports.filter((x) => x.outcome === 'refused');
      if (refused.length > 0) {
        // Undo: the sinks already changed and the station go back to the running configuration.
        for (const s of applied) await s.reconfigure(prev, changesUnder(plan, s.section).map((c) => c.path));
        await this.station.applyConfig(prev);
        return { ok: false, reasons: refused.map((x) => `${x.section}: ${x.reason ?? 'refused'}`), sections };
      }
      applied.push(sink);
    }
    if (this.mqtt === null) {
      const mqttPaths = changesUnder(plan, 'mqtt').map((c) => c.path);
      if (mqttPaths.length > 0) sections.push({ section: 'mqtt', outcome: 'restart-needed', paths: mqttPaths });
    }
    this.config = next;
    this.restartNeeded = [...new Set([...this.restartNeeded, ...sections.filter((x) => x.outcome === 'restart-needed').flatMap((x) => x.paths)])];
    this.lastChangeRestarted = restartsSomething(plan);
    return { ok: true, reasons: [], sections };
  }

  /** Starts the probation watch of the configuration just accepted (or restored on probation). */
  private watch(camerasChanged: boolean): void {
    const cp = this.controlPlane;
    if (cp === null) return;
    this.probation?.stop();
    const rc = this.config.mqtt.remoteConfig;
    if (rc.probationMs === 0) {
      this.probation = null;
      void cp.confirm();
      return;
    }
    const p = new Probation(this.station, { probationMs: rc.probationMs, errorStreak: rc.rollbackAfterErrors, camerasChanged }, this.clock);
    this.probation = p;
    this.probationSettled = p.result.then(async (result) => {
      if (this.probation !== p) return;
      if (result.passed) {
        await cp.confirm();
        this.opts.logger.info({ version: cp.active.version }, 'remote configuration passed its probation: last known good');
      } else {
        const ack = await cp.rollback(result.reasons);
        if (ack !== null) {
          this.config = cp.active.config;
          this.lastRollback = { version: ack.version ?? 0, reasons: ack.reasons, atMs: ack.atMs };
          this.opts.logger.error({ reasons: ack.reasons, activeVersion: ack.activeVersion }, 'remote configuration failed on probation: rolled back');
          this.publishAck(ack);
        }
      }
      if (this.probation === p) this.probation = null;
    });
    p.start();
  }

  private publishAck(ack: ConfigAck): void {
    this.mqtt?.publishAck(ack);
  }

  /** What …/status says about the configuration. */
  configStatus(): ConfigStatus {
    const cp = this.controlPlane;
    return {
      version: cp?.active.version ?? 0,
      hash: cp?.active.hash ?? null,
      onProbation: cp?.onProbation ?? false,
      restartNeeded: this.restartNeeded,
      rolledBack: this.lastRollback,
      setAside: this.setAside,
    };
  }

  /**
   * Resolves when every camera's source has ended and its frames are judged — unless a change on
   * probation was rolled back meanwhile (its cameras ending is what failed): then it waits for the
   * restored ones.
   */
  async ended(): Promise<void> {
    for (;;) {
      await this.station.ended();
      const settled = this.probationSettled;
      if (this.probation !== null && settled !== null) {
        await settled;
        continue;
      }
      return;
    }
  }

  /** Stops the cameras, finishes the frames in flight, flushes the sinks, says offline, disconnects. */
  async stop(): Promise<DaemonSummary> {
    this.probation?.stop();
    this.probation = null;
    await this.station.stop();
    await this.ngImages.close();
    await this.console.close();
    if (this.mqtt !== null) await this.mqtt.close();
    if (this.http !== null) await this.http.close();
    return { report: this.summary.report(this.station.counters()), failed: this.station.health().reasons };
  }
}

/** Paths grouped by their top-level section, in first-seen order. */
function groupBySection(paths: readonly string[]): Array<[string, string[]]> {
  const out = new Map<string, string[]>();
  for (const p of paths) {
    const section = p.split('.')[0]!;
    const list = out.get(section) ?? [];
    list.push(p);
    out.set(section, list);
  }
  return [...out];
}

function restartsSomething(plan: ReloadPlan): boolean {
  return hasClass(plan, 'cold') || hasClass(plan, 'warm');
}
