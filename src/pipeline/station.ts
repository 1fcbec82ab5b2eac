import { Observable, Subject, filter, identity, map, take, takeUntil, tap, type Subscription } from 'rxjs';
import { resolvePaths } from '../config/load.js';
import { hasClass, planReload, type ReloadPlan } from '../config/reload.js';
import type { CameraConfig, Config } from '../config/schema.js';
import { LinewatchError, errorMessage } from '../errors.js';
import { adapterFor, needsExtras, type ModelAdapter } from '../models/adapters/index.js';
import { probeBatch, type BatchTiming } from '../models/batch-probe.js';
import { loadBundle } from '../models/bundle.js';
import type { Manifest } from '../models/manifest.js';
import { InferenceEngine, type EngineLogger } from '../models/engine.js';
import { EmbeddingEngine } from '../models/embedder.js';
import { tensorrtEngineCache } from '../models/providers.js';
import type { EngineCacheState } from '../models/tensorrt-options.js';
import { Counters, type CounterSnapshot } from './counters.js';
import type { Frame } from './frame.js';
import { REASON } from './decide.js';
import {
  Inspector,
  assertNeedsMet,
  createModelSlot,
  droppedVerdict,
  framelessVerdict,
  lostFrameVerdict,
  type ExtrasServer,
  type FrameContext,
  type JudgedFrame,
  type ModelSlot,
  type RuleSet,
} from './inspect/index.js';
import { lineScanVerdicts } from './operators/line-scan.js';
import { PreprocessPool } from './preprocess/pool.js';
import { RoomGate } from './operators/bounded-batch.js';
import { BatchMux } from './operators/batch-mux.js';
import { BatchingCounters, batchPlan, batchProbeUpTo, type BatchingSnapshot, type BatchSizeSource } from './batching.js';
import type { FrameSource, LossReason, LossVisibility, LostFrame, SourceHealth } from './source.js';
import { attachTriggers, type Trigger, type TriggerCounts } from './triggers.js';
import { createSource } from './sources/index.js';
import type { Verdict } from './verdict.js';
import { Changeover, PromptCache, isPoolProduct, promptServer, readRecipes, type ProductOrigin, type RunningProduct } from './products/index.js';

/**
 * One inspection station: one RxJS pipeline per camera into one inference engine, the verdicts of
 * all cameras on `verdicts$`, the counters, and configuration changes applied hot, warm or cold.
 */

export interface StationLogger extends EngineLogger {
  error(obj: object, msg: string): void;
}

export interface StationDeps {
  /** Default: warnings and errors as one line on stderr. */
  readonly logger?: StationLogger;
  /** Folder that relative paths in configurations applied later are resolved against. Default cwd. */
  readonly baseDir?: string;
  /** Stop each camera after this many frames (`run --max-frames`). Default: no limit. */
  readonly maxFramesPerCamera?: number;
  /**
   * Leave the cameras off until {@link Station.begin}, so that every consumer of `verdicts$` (the
   * MQTT publisher above all) is subscribed before the first verdict: none misses a reject.
   * Default false: cameras start with the station.
   */
  readonly deferCameras?: boolean;
}

export type StationLifecycle = 'running' | 'stopping' | 'stopped';

export interface StationHealth {
  /** `degraded` when any reason is listed. */
  readonly state: 'ok' | 'degraded';
  readonly lifecycle: StationLifecycle;
  /** Why the station is degraded (empty when all is well). */
  readonly reasons: readonly string[];
  readonly model: {
    readonly version: string;
    readonly sha256: string;
    readonly provider: string;
    readonly fallbacks: readonly { readonly provider: string; readonly reason: string }[];
    /** TensorRT's engine cache for this model, while TensorRT is the provider in use. */
    readonly tensorrtEngine?: EngineCacheState;
    /** Frames per model call at most for area-scan cameras, where that came from, and the probe's timings when measured. */
    readonly batch: { readonly size: number; readonly by: BatchSizeSource; readonly timings?: readonly BatchTiming[] };
  };
  readonly configVersion: string;
  readonly cameras: readonly {
    readonly id: string;
    readonly source: string;
    readonly health: SourceHealth;
    /** Trigger pairing of this camera's current run, when `triggers` is enabled for it. */
    readonly triggers?: Readonly<TriggerCounts>;
    /** What its source can tell about lost frames (docs/cameras.md); absent for sources that lose none. */
    readonly losses?: LossVisibility;
    /** The product it runs now (its frames are stamped with it when received), who set it, and whether it has a recipe; null: none. */
    readonly product: (RunningProduct & { readonly known: boolean }) | null;
  }[];
}

/** What a changeover asked from outside (the PLC's `<root>/<camera>/product`) did. */
export type ProductChange =
  | { readonly ok: false; readonly reason: string }
  /** `known`: the product has a recipe; when not, the camera's frames are `error` verdicts until it gets one. */
  | { readonly ok: true; readonly camera: string; readonly running: RunningProduct | null; readonly before: RunningProduct | null; readonly known: boolean };

/**
 * `counters()`: the frame accounting, plus trigger pairing summed over cameras and restarts once
 * any camera has had `triggers` enabled (absent before, so untriggered stations report as before).
 */
export interface StationCounters extends CounterSnapshot {
  /** The same counts per camera (each holds the identity); a camera removed by a restart keeps its counts. */
  readonly cameras?: Readonly<Record<string, CounterSnapshot>>;
  readonly triggersMatched?: number;
  /** Frames that went on without a trigger (no partId from the PLC). */
  readonly framesWithoutTrigger?: number;
  /** Triggers no frame came for. */
  readonly orphanTriggers?: number;
}

export interface ApplyResult {
  readonly ok: boolean;
  /** What was done: nothing, rules swapped, model swapped, pipelines restarted. */
  readonly level: ReloadPlan['level'];
  readonly changes: ReloadPlan['changes'];
  readonly reasons: readonly string[];
}

const stderrLogger: StationLogger = {
  info: () => {},
  warn: (obj, msg) => process.stderr.write(`linewatch: ${msg} ${JSON.stringify(obj)}\n`),
  error: (obj, msg) => process.stderr.write(`linewatch: ${msg} ${JSON.stringify(obj)}\n`),
};

interface CameraRun {
  readonly id: string;
  readonly kind: string;
  readonly done: Promise<void>;
  health: SourceHealth;
  healthSub: Subscription | null;
  /** Line-scan: the source's `losses$`, counted and logged as they come; ended with the camera. */
  lossSub: Subscription | null;
  /** Frames the source itself lost, polled: only for a source that can tell but has no `losses$`. */
  readonly lostFrames: (() => number) | null;
  readonly lossVisibility: (() => LossVisibility) | null;
  /** Live trigger pairing counts (updated in place), when triggers are enabled for the camera. */
  triggers: Readonly<TriggerCounts> | null;
}

/**
 * What a camera contributes to judging its frames: its ROI, and the prompts of its frames'
 * products (`serve`, the same for every camera: a frame's product is stamped on the frame).
 */
function frameContext(cam: CameraConfig, serve: ExtrasServer): FrameContext {
  return { roi: cam.roi, maxFramePixels: cam.maxFramePixels, extras: serve };
}

/** A frame whose camera the station does not know (never, short of a bug): refused before decoding. */
const UNKNOWN_CAMERA: FrameContext = { roi: undefined, maxFramePixels: 0, extras: null };

/**
 * Whether each camera can give a prompted model its prompts: it needs a product at start (the PLC
 * may change it later, but a camera that starts on none would judge nothing). And whether each
 * product's prompts fit the bundle's rule: a pool is served only by a `cosine-pool` bundle. A
 * recipe on a pool bundle is served as a pool of one (its frames are judged against their one good
 * image, which is never nearer than the nearest of a pool: calibrated on pools, it errs towards
 * rejecting); a pool on a recipe bundle is refused (the nearest of a pool scores lower than the one
 * prompt the bundle was calibrated with: it would err towards passing, unseen).
 */
function promptSuppliers(config: Config, adapter: ModelAdapter): { name: string; cannotServe: string | null }[] {
  const need = adapter.needs.prompt;
  const cameras = config.cameras.map((cam) => {
    const product = cam.product === undefined ? undefined : config.products[cam.product];
    return {
      name: `camera ${cam.id}`,
      cannotServe:
        cam.product === undefined
          ? 'no product is set for it (cameras[].product, a key of products)'
          : cam.lineScan !== undefined && product !== undefined && isPoolProduct(product)
            ? `it is a line-scan camera and its product ${cam.product} names a pool: a line-scan camera takes one good image of the web per product (products.${cam.product}.prompt), each tile judged against the good tile at its place`
            : null,
    };
  });
  if (need === null || need.selection === 'cosine-pool') return cameras;
  const pools = Object.entries(config.products).filter(([, p]) => isPoolProduct(p));
  return [
    ...cameras,
    ...pools.map(([name]) => ({
      name: `products.${name}`,
      cannotServe: `it names a pool, and this bundle's prompt.selection is recipe (calibrated with one prompt per product: the nearest of a pool would be judged against thresholds made for another rule); give products.${name}.prompt FILE, or a bundle exported with selection cosine-pool`,
    })),
  ];
}

/**
 * Loads the bundle, checks the cameras and products can serve what it needs, starts its embedding
 * graph when it chooses prompts from pools, prepares every product's prompts for it (an image that
 * cannot be decoded refuses the model and the configuration before the model's sessions start),
 * then starts the engine.
 */
async function buildEngine(config: Config, logger: StationLogger, prompts: PromptCache): Promise<ModelSlot> {
  const bundle = await loadBundle(config.model.bundle);
  const adapter = adapterFor(bundle);
  assertNeedsMet(bundle, adapter, promptSuppliers(config, adapter));
  // Started for every pool bundle, pools configured or not: a hot products update may bring one.
  const embedder = adapter.needs.prompt?.selection === 'cosine-pool' ? await EmbeddingEngine.create(bundle, { executionProviders: config.model.executionProviders }) : null;
  try {
    await prompts.prepareAll({ manifest: bundle.manifest, embedder });
    const cache = tensorrtEngineCache(config.model.executionProviders, bundle.manifest.sha256);
    if (cache?.state === 'build-needed') {
      logger.warn({ dir: cache.dir }, `model ${bundle.manifest.version}: no TensorRT engine cached; building one now (minutes on a Jetson), reused afterwards`);
    }
    const engine = await InferenceEngine.create(bundle, {
      workers: config.model.workers,
      executionProviders: config.model.executionProviders,
      logger,
      ...(config.model.intraOpThreads !== undefined ? { intraOpThreads: config.model.intraOpThreads } : {}),
    });
    const slot = createModelSlot(bundle, engine, adapter, embedder);
    await measureBatch(slot, config, logger);
    return slot;
  } catch (err) {
    await embedder?.close();
    throw err;
  }
}

/**
 * Sets `slot.batchProbe` for the cameras of `config` when they share a dynamic-batch model and
 * no batch size is configured (kept when it was measured for as many cameras already). A probe
 * that fails leaves none: batches then fill up to the number of cameras, as without a probe.
 */
async function measureBatch(slot: ModelSlot, config: Config, logger: StationLogger): Promise<void> {
  const upTo = batchProbeUpTo(config, slot.bundle.manifest);
  if (upTo === null || slot.batchProbe?.upTo === upTo) return;
  try {
    const probe = await probeBatch(slot.engine, slot.bundle.manifest, upTo);
    slot.batchProbe = probe;
    const timings = probe.timings.map((t) => ({ batch: t.batch, runMs: round2(t.runMs), imagesPerS: round2(t.imagesPerS) }));
    logger.info({ batchSize: probe.chosen, cameras: upTo, timings, probeMs: Math.round(probe.ms) }, 'batch size measured for the cameras sharing the model');
  } catch (err) {
    slot.batchProbe = null;
    logger.warn({ err: errorMessage(err), cameras: upTo }, 'batch size probe failed; batches fill up to the number of cameras');
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Closes a slot's engine and its embedding graph. */
async function closeSlot(slot: ModelSlot): Promise<void> {
  await slot.engine.close();
  await slot.embedder?.close();
}

function trtCacheOrDisabled(config: Config, modelSha256: string): EngineCacheState {
  return tensorrtEngineCache(config.model.executionProviders, modelSha256) ?? { state: 'disabled' };
}

export class Station {
  readonly verdicts$: Observable<Verdict>;
  /** Judged frames with their maps (NG images, heatmaps). Maps are copied only while observed. */
  readonly judged$: Observable<JudgedFrame>;
  private readonly verdictSubject: Subject<Verdict>;
  private readonly judgedSubject: Subject<JudgedFrame>;
  /** Triggers from the PLC (`pushTrigger`), shared by every camera with triggers enabled. */
  private readonly triggerSubject: Subject<Trigger>;
  /** Triggers that came before begin(): the PLC may announce the first parts before the cameras run. */
  private readonly earlyTriggers: Trigger[];
  /** Trigger counts of camera runs stopped by restarts, so counters() never go backwards. */
  private readonly retiredTriggers: TriggerCounts;
  private triggersUsed = false;
  private readonly counts: Counters;
  private readonly logger: StationLogger;
  private readonly baseDir: string;
  private config: Config;
  private slot: ModelSlot;
  private ruleSet: RuleSet;
  private cameras: CameraRun[];
  /** Cameras started (begin() or start without deferCameras); until then a cold change only updates the config. */
  private begun: boolean;
  private stopSources: Subject<void>;
  private state: StationLifecycle;
  private readonly maxFrames: number | undefined;
  private pool: PreprocessPool;
  /** Serialises applyConfig and stop so that two changes never interleave. */
  private queue: Promise<unknown>;
  /** Sources built and checked, waiting for begin(). */
  private pending: BuiltSources | null;
  /** The running cameras' batch muxes (one shared by all area-scan cameras, or one each). */
  private muxes: BatchMux<Frame, Verdict>[];
  private readonly batchCounts: BatchingCounters;
  /** The products' prompts in force (replaced whole when `products` changes), prepared once per model. */
  private prompts: PromptCache;
  /** Which product each camera runs now. */
  private readonly changeover: Changeover;
  /** Serves each frame the prompt of the product stamped on it (every camera's FrameContext.extras). */
  private readonly serve: ExtrasServer;

  private constructor(config: Config, slot: ModelSlot, prompts: PromptCache, deps: StationDeps) {
    this.verdictSubject = new Subject<Verdict>();
    this.judgedSubject = new Subject<JudgedFrame>();
    this.triggerSubject = new Subject<Trigger>();
    this.earlyTriggers = [];
    this.retiredTriggers = { matched: 0, unmatchedFrames: 0, orphanTriggers: 0 };
    this.verdicts$ = this.verdictSubject.asObservable();
    this.judged$ = this.judgedSubject.asObservable();
    this.counts = new Counters();
    this.logger = deps.logger ?? stderrLogger;
    this.baseDir = deps.baseDir ?? process.cwd();
    this.config = config;
    this.slot = slot;
    this.ruleSet = { decide: config.decide, configVersion: config.version };
    this.cameras = [];
    this.begun = false;
    this.stopSources = new Subject<void>();
    this.state = 'running';
    this.maxFrames = deps.maxFramesPerCamera;
    this.queue = Promise.resolve();
    this.pool = preprocessPool(config.inference);
    this.pending = null;
    this.muxes = [];
    this.batchCounts = new BatchingCounters();
    this.prompts = prompts;
    this.changeover = new Changeover(config.cameras);
    // Read at judging time: a frame judged after a `products` change gets the new recipe of its own product.
    this.serve = promptServer(() => this.prompts, (frame) => noProduct(frame.cameraId));
  }

  /**
   * Loads the model, starts the engine (warmed up) and one pipeline per camera.
   *
   * @example
   * const station = await Station.start(await loadConfig('configs/demo.yaml'));
   * station.verdicts$.subscribe((v) => console.log(v.verdict));
   */
  static async start(config: Config, deps: StationDeps = {}): Promise<Station> {
    const resolved = resolvePaths(config, deps.baseDir ?? process.cwd());
    // Sources first (cheap, and a folder that is not there must not cost a model load), checked:
    // a configuration whose cameras cannot start is refused here, whole.
    const built = await buildSources(resolved.cameras);
    const prompts = new PromptCache(await readRecipes(resolved.products));
    const slot = await buildEngine(resolved, deps.logger ?? stderrLogger, prompts);
    const station = new Station(resolved, slot, prompts, deps);
    station.pending = built;
    if (deps.deferCameras !== true) station.begin();
    return station;
  }

  /** Starts the cameras (once; later calls do nothing). Needed only with `deferCameras`. */
  begin(): void {
    if (this.begun || this.state !== 'running') return;
    this.begun = true;
    this.startCameras();
    for (const t of this.earlyTriggers.splice(0)) this.triggerSubject.next(t);
  }

  counters(): StationCounters {
    const c = this.counts.snapshot();
    const cameras = this.counts.perCamera();
    let sourceLost = 0;
    const t = { ...this.retiredTriggers };
    for (const cam of this.cameras) {
      if (cam.lostFrames !== null) {
        const n = cam.lostFrames();
        sourceLost += n;
        const own = cameras[cam.id];
        if (own !== undefined && n > 0) cameras[cam.id] = { ...own, lost: own.lost + n };
      }
      if (cam.triggers !== null) addTriggerCounts(t, cam.triggers);
    }
    const counted = { ...(sourceLost === 0 ? c : { ...c, lost: c.lost + sourceLost }), cameras };
    if (!this.triggersUsed) return counted;
    return {
      ...counted,
      triggersMatched: t.matched,
      framesWithoutTrigger: t.unmatchedFrames,
      orphanTriggers: t.orphanTriggers,
    };
  }

  /**
   * A trigger from the PLC (`<root>/trigger`): paired in order with the next frame of each camera
   * that has `triggers` enabled; ignored when none has.
   */
  pushTrigger(trigger: Trigger): void {
    if (this.state !== 'running') return;
    if (this.begun) this.triggerSubject.next(trigger);
    else this.earlyTriggers.push(trigger);
  }

  /** The manifest of the model in force. */
  activeManifest(): Manifest {
    return this.slot.bundle.manifest;
  }

  /** The configuration in force. */
  activeConfig(): Config {
    return this.config;
  }

  health(): StationHealth {
    const m = this.slot.bundle.manifest;
    const reasons: string[] = [];
    for (const c of this.cameras) if (c.health.state === 'degraded') reasons.push(`camera ${c.id}: ${c.health.reason}`);
    if (needsExtras(this.slot.adapter.needs)) {
      for (const c of this.cameras) {
        const p = this.changeover.of(c.id);
        if (p === null) reasons.push(`camera ${c.id}: runs no product: its frames are error verdicts`);
        else if (!this.prompts.has(p.product)) reasons.push(`camera ${c.id}: product "${p.product}" has no recipe (products.${p.product}): its frames are error verdicts`);
      }
    }
    return {
      state: reasons.length > 0 ? 'degraded' : 'ok',
      lifecycle: this.state,
      reasons,
      model: {
        version: m.version,
        sha256: m.sha256,
        provider: this.slot.engine.provider,
        fallbacks: this.slot.engine.fallbacks,
        ...(this.slot.engine.provider === 'tensorrt' ? { tensorrtEngine: trtCacheOrDisabled(this.config, m.sha256) } : {}),
        batch: this.batchHealth(),
      },
      configVersion: this.config.version,
      cameras: this.cameras.map((c) => ({
        id: c.id,
        source: c.kind,
        health: c.health,
        ...(c.triggers !== null ? { triggers: { ...c.triggers } } : {}),
        ...(c.lossVisibility !== null ? { losses: c.lossVisibility() } : {}),
        product: this.productHealth(c.id),
      })),
    };
  }

  private productHealth(cameraId: string): (RunningProduct & { readonly known: boolean }) | null {
    const p = this.changeover.of(cameraId);
    return p === null ? null : { ...p, known: this.prompts.has(p.product) };
  }

  /** Resolves when every camera's source has ended and its frames are judged (file sources, counted runs). */
  async ended(): Promise<void> {
    let seen: CameraRun[] | null = null;
    // A cold restart replaces the camera runs while we wait: wait for the new ones too.
    while (seen !== this.cameras) {
      seen = this.cameras;
      await Promise.all(seen.map((c) => c.done));
    }
  }

  /**
   * Applies a new configuration: hot (rules, sinks) between two frames; warm (model) by building
   * and warming a new engine beside the old one and swapping between batches, the old one kept
   * when the new one fails; cold (cameras, queue) by restarting the pipelines.
   */
  applyConfig(next: Config): Promise<ApplyResult> {
    const run = this.queue.then(() => this.apply(resolvePaths(next, this.baseDir)));
    this.queue = run.catch(() => {});
    return run;
  }

  private async apply(next: Config): Promise<ApplyResult> {
    const plan = planReload(this.config, next);
    if (this.state !== 'running') return { ok: false, level: plan.level, changes: plan.changes, reasons: [`the station is ${this.state}`] };
    if (plan.level === 'none') return { ok: true, level: 'none', changes: [], reasons: [] };
    const modelChanged = plan.changes.some((c) => c.class === 'warm');
    const refuse = (reasons: string[]): ApplyResult => ({ ok: false, level: plan.level, changes: plan.changes, reasons });
    // New recipes are read and prepared (for the model that will judge with them) before anything
    // running is touched: a prompt that cannot be read or decoded refuses the whole configuration.
    let prompts = this.prompts;
    if (plan.changes.some((c) => c.path === 'products' || c.path.startsWith('products.'))) {
      try {
        prompts = new PromptCache(await readRecipes(next.products));
        if (!modelChanged) {
          // A pool the running model cannot serve is refused by name before anything is prepared.
          assertNeedsMet(this.slot.bundle, this.slot.adapter, promptSuppliers(next, this.slot.adapter));
          await prompts.prepareAll({ manifest: this.slot.bundle.manifest, embedder: this.slot.embedder });
        }
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'new products refused; the running configuration stays');
        return refuse([errorMessage(err)]);
      }
    }
    let fresh: ModelSlot | null = null;
    if (modelChanged) {
      try {
        fresh = await buildEngine(next, this.logger, prompts);
      } catch (err) {
        this.logger.warn({ err: errorMessage(err) }, 'new model refused; the running one stays');
        return refuse([`model ${next.model.bundle}: ${errorMessage(err)}`]);
      }
    } else {
      // The model stays: the cameras of the new configuration must still be able to serve it.
      try {
        assertNeedsMet(this.slot.bundle, this.slot.adapter, promptSuppliers(next, this.slot.adapter));
      } catch (err) {
        return refuse([errorMessage(err)]);
      }
    }
    // New sources are built (pipelines parsed, settings checked) before the running ones stop, so a
    // refused camera leaves the station as it was.
    let sources: FrameSource[] | null = null;
    let gates: RoomGate[] = [];
    if (hasClass(plan, 'cold')) {
      try {
        ({ sources, gates } = await buildSources(next.cameras));
      } catch (err) {
        if (fresh !== null) await closeSlot(fresh);
        this.logger.warn({ err: errorMessage(err) }, 'new cameras refused; the running ones stay');
        return { ok: false, level: plan.level, changes: plan.changes, reasons: [`cameras: ${errorMessage(err)}`] };
      }
    }
    // The batch the new cameras (or the unchanged ones on the new model) are served in.
    if (sources !== null && fresh === null) await measureBatch(this.slot, next, this.logger);
    let old: ModelSlot | null = null;
    if (fresh !== null) {
      old = this.slot;
      // Batches read the slot once when they start: those in flight finish on the old engine.
      this.slot = fresh;
      if (sources === null) {
        const size = batchPlan(next, fresh.bundle.manifest, fresh.batchProbe).batchSize;
        for (const m of this.muxes) m.resize(size);
      }
    }
    this.config = next;
    this.ruleSet = { decide: next.decide, configVersion: next.version };
    this.prompts = prompts;
    // A camera whose configured product changed runs it from its next frame received (hot); the
    // others keep theirs, a PLC's changeover included.
    for (const id of this.changeover.reconfigure(next.cameras)) {
      this.logger.info({ camera: id, product: this.changeover.of(id)?.product ?? null, by: 'config' }, 'product changeover');
    }
    if (sources !== null) {
      await this.stopCameras();
      const q = next.inference;
      if (q.preprocessWorkers !== this.pool.size || q.preprocessInlineBelowMs !== this.pool.inlineBelowMs) {
        await this.pool.close();
        this.pool = preprocessPool(q);
      }
      // Before begin() the new sources wait, unstarted, like the old ones did.
      if (this.begun) this.launchCameras(sources, gates);
      else this.pending = { sources, gates };
    }
    if (old !== null) await this.retire(old);
    this.logger.info({ level: plan.level, version: next.version, changes: plan.changes.length }, 'configuration applied');
    return { ok: true, level: plan.level, changes: plan.changes, reasons: [] };
  }

  /**
   * A changeover on `cameraId` asked by the PLC (`<root>/<camera>/product`): its frames received
   * from now on are of `product`; frames in flight finish as the product they were taken of.
   * `null`: the PLC cleared its topic, the camera runs its configured product again.
   *
   * An unknown product is taken all the same, logged and reported in health: the PLC says the
   * line now makes that part, so judging it against the previous product's recipe would compare
   * it with the wrong good part — silently wrong verdicts (false rejects or, worse, escapes). Its
   * frames become `error` verdicts (LW_ERR_PRODUCT_UNKNOWN) judged by failSafe, which the line
   * sees at once, until the recipe is configured or the PLC names a known product.
   */
  setProduct(cameraId: string, product: string | null, origin: ProductOrigin = 'mqtt'): ProductChange {
    if (this.state !== 'running') return { ok: false, reason: `the station is ${this.state}` };
    if (!this.changeover.knows(cameraId)) return { ok: false, reason: `no camera "${cameraId}" on this station (cameras: ${this.config.cameras.map((c) => c.id).join(', ')})` };
    const before = this.changeover.of(cameraId);
    if (product === null) this.changeover.reset(cameraId);
    else this.changeover.set(cameraId, product, origin);
    const running = this.changeover.of(cameraId);
    const known = running === null || this.prompts.has(running.product);
    if (running?.product !== before?.product) {
      const fields = { camera: cameraId, product: running?.product ?? null, before: before?.product ?? null, by: running?.origin ?? origin };
      if (known) this.logger.info(fields, 'product changeover');
      else this.logger.warn({ ...fields, known: [...this.prompts.recipes.keys()] }, 'product changeover to a product with no recipe: its frames are error verdicts until one is configured');
    }
    return { ok: true, camera: cameraId, running, before, known };
  }

  private batchHealth(): StationHealth['model']['batch'] {
    const probe = this.slot.batchProbe;
    const plan = batchPlan(this.config, this.slot.bundle.manifest, probe);
    // The running mux's own size (cameras not started yet: the plan they will start with).
    const size = this.muxes[0]?.size ?? plan.batchSize;
    return { size, by: plan.batchSizeBy, ...(plan.batchSizeBy === 'measured' && probe !== null ? { timings: probe.timings } : {}) };
  }

  /** Closes an engine once the batches that started on it are done. */
  private async retire(slot: ModelSlot): Promise<void> {
    while (slot.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await closeSlot(slot);
    this.batchCounts.retireEngine(slot.engine.batchCounts());
  }

  /**
   * What batching did so far: batches formed in front of the model (and how many mixed cameras),
   * model runs, and a fixed-batch model's padding and splits.
   */
  batching(): BatchingSnapshot {
    return this.batchCounts.snapshot(
      this.muxes.map((m) => m.stats()),
      this.state === 'stopped' ? { runs: 0, images: 0, paddedRuns: 0, paddedImages: 0, splitBatches: 0 } : this.slot.engine.batchCounts(),
    );
  }

  /** Stops the sources, lets the frames in flight finish, closes the engine. Idempotent. */
  stop(): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.state !== 'running') return;
      this.state = 'stopping';
      await this.stopCameras();
      await closeSlot(this.slot);
      this.batchCounts.retireEngine(this.slot.engine.batchCounts());
      await this.pool.close();
      this.state = 'stopped';
      this.verdictSubject.complete();
      this.judgedSubject.complete();
      this.triggerSubject.complete();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private startCameras(): void {
    const built = this.pending;
    this.pending = null;
    if (built !== null) this.launchCameras(built.sources, built.gates);
  }

  /**
   * One pipeline per camera into one Inspector (a batch may mix cameras: each frame's context is
   * looked up by its camera), and the batch muxes in front of it: one shared by every area-scan
   * camera when batching across cameras, else one per camera.
   */
  private launchCameras(sources: readonly FrameSource[], gates: readonly RoomGate[]): void {
    this.stopSources = new Subject<void>();
    const cams = this.config.cameras;
    const contexts = new Map<string, FrameContext>();
    for (const cam of cams) contexts.set(cam.id, frameContext(cam, this.serve));
    const inspector = new Inspector({
      model: () => this.slot,
      rules: () => this.ruleSet,
      prepare: (f: Frame, m: Manifest, c: FrameContext) => this.pool.prepare(f, m, c.roi, c.maxFramePixels),
      frameContext: (f: Frame) => contexts.get(f.cameraId) ?? UNKNOWN_CAMERA,
      judged: () => (this.judgedSubject.observed ? (j: JudgedFrame) => this.judgedSubject.next(j) : null),
    });
    const plan = batchPlan(this.config, this.slot.bundle.manifest, this.slot.batchProbe);
    const work = (frames: Frame[]): Promise<Verdict[]> => inspector.judge(frames);
    const shared = plan.acrossCameras ? new BatchMux<Frame, Verdict>(plan, work) : null;
    this.muxes = shared === null ? [] : [shared];
    this.cameras = cams.map((cam, i) => {
      let mux = shared;
      if (mux === null && cam.lineScan === undefined) {
        mux = new BatchMux<Frame, Verdict>(plan, work);
        this.muxes.push(mux);
      }
      return this.startCamera(cam, sources[i]!, gates[i]!, this.stopSources, inspector, mux);
    });
  }

  private async stopCameras(): Promise<void> {
    this.stopSources.next();
    this.stopSources.complete();
    await Promise.all(this.cameras.map((c) => c.done));
    for (const m of this.muxes) this.batchCounts.retireMux(m.stats());
    this.muxes = [];
    for (const c of this.cameras) {
      c.healthSub?.unsubscribe();
      c.lossSub?.unsubscribe();
      if (c.triggers !== null) addTriggerCounts(this.retiredTriggers, c.triggers);
      c.triggers = null;
    }
  }

  private startCamera(
    cam: CameraConfig,
    source: FrameSource,
    gate: RoomGate,
    stop$: Observable<void>,
    inspector: Inspector,
    mux: BatchMux<Frame, Verdict> | null,
  ): CameraRun {
    const q = this.config.inference;
    const counts = this.counts;
    counts.resetSeq(cam.id);
    const capacity = q.maxQueuedFrames;
    const onDrop = (f: Frame): Verdict => droppedVerdict(f, this.ruleSet, this.slot.bundle.manifest.version, capacity);
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const run: CameraRun = {
      id: cam.id,
      kind: source.kind,
      done,
      health: { state: 'starting' },
      healthSub: null,
      lossSub: null,
      lostFrames: source.losses$ === undefined ? (source.lostFrames ?? null) : null,
      lossVisibility: source.lossVisibility ?? null,
      triggers: null,
    };
    const trig = cam.triggers;
    // Counted as received before pairing: a frame waiting for its trigger is in flight.
    const pairTriggers =
      trig === undefined || !trig.enabled
        ? identity
        : attachTriggers<CameraItem>(this.triggerSubject, {
            timeoutMs: trig.timeoutMs,
            skewMs: trig.skewMs,
            counts: (c) => {
              this.triggersUsed = true;
              run.triggers = c;
            },
            onUnmatchedFrame: (f) => this.logger.warn({ camera: cam.id, seq: f.seq, lost: isLost(f) }, 'frame without a trigger'),
            onOrphanTrigger: (t) => {
              this.logger.warn({ camera: cam.id, partId: t.partId, at: t.at }, 'trigger without a frame');
              // The PLC announced a part that was never inspected: it is judged by failSafe like a dropped frame.
              this.counts.receiveUnseen(cam.id);
              this.emit(orphanVerdict(cam.id, t, this.ruleSet, this.slot.bundle.manifest.version));
            },
          });
    run.healthSub =
      source.health$?.subscribe((h) => {
        run.health = h;
      }) ?? null;
    const bounded = source.frames().pipe(this.maxFrames !== undefined ? take(this.maxFrames) : identity, takeUntil(stop$));
    let judged$: Observable<Verdict>;
    if (cam.lineScan === undefined) {
      if (mux === null) throw new Error(`camera ${cam.id}: an area-scan camera needs a batch mux (a bug in launchCameras)`);
      // Area-scan: every frame the camera took is one part, delivered or lost. A lost frame comes
      // with its seq just before the frame that revealed it, is received like a frame, takes its
      // PLC trigger in order like a frame (so that part is judged once, with its partId, and its
      // trigger is no orphan), and becomes a `dropped` verdict (FRAME_LOST) judged by failSafe.
      const items$ = source.losses$ === undefined ? bounded : interleave(bounded, source.losses$);
      const changeover = this.changeover;
      judged$ = items$.pipe(
        // The product is taken when the frame is received, before it is counted or queued: a
        // changeover applies from the next frame, and frames in flight keep their own product.
        map((item) => changeover.stamp(item)),
        tap((item) => {
          if (isLost(item)) counts.addLost(cam.id, 1);
          counts.receive(cam.id, item.seq);
        }),
        pairTriggers,
        tap((item) => {
          if (isLost(item)) this.emit(lostVerdict(item, this.ruleSet, this.slot.bundle.manifest.version));
        }),
        filter(isFrame),
        mux.lane({ capacity, gate }, onDrop),
      );
    } else {
      // Line-scan: `received` counts segments (each decided segment, or unusable buffer, is received
      // and settled at once), not camera buffers — a buffer is part of one or more segments. A lost
      // buffer — lost by the source, or left out because the judge's queue was full (a live camera
      // outrunning it) — is a gap of lines inside a segment, not a part of its own: counted in
      // `lost`, logged, and the segment it falls in is judged by failSafe (LINES_LOST).
      run.lossSub =
        source.losses$?.subscribe((lost) => {
          counts.addLost(cam.id, 1);
          this.logger.warn({ camera: cam.id, bufferSeq: lost.seq, reason: lost.reason }, 'line-scan buffer lost');
        }) ?? null;
      const items$ = source.losses$ === undefined ? bounded : interleave(bounded, source.losses$);
      const changeover = this.changeover;
      judged$ = items$.pipe(
        // Each buffer takes the camera's product when received, as an area-scan frame does: a
        // prompted model judges a band's tiles as the product of the buffer that completed it.
        map((item) => changeover.stamp(item)),
        pairTriggers,
        lineScanVerdicts(inspector, {
          cameraId: cam.id,
          config: cam.lineScan,
          gate,
          maxQueuedBuffers: capacity,
          onSegment: (seq) => counts.receive(cam.id, seq),
          onOverflow: (f) => {
            counts.addLost(cam.id, 1);
            this.logger.warn({ camera: cam.id, bufferSeq: f.seq, reason: 'queue-full', maxQueuedBuffers: capacity }, 'line-scan buffer left out: the judge is behind the camera');
          },
        }),
      );
    }
    judged$
      .subscribe({
        next: (v) => this.emit(v),
        error: (err: unknown) => {
          this.logger.error({ camera: cam.id, err: errorMessage(err) }, 'source failed');
          // A source error is final (transient faults stay on health$): the camera stays degraded with it.
          run.health = { state: 'degraded', reason: errorMessage(err) };
          resolveDone();
        },
        complete: () => {
          if (source.health$ === undefined) run.health = { state: 'ended' };
          resolveDone();
        },
      });
    if (source.health$ === undefined && run.health.state === 'starting') run.health = { state: 'running' };
    return run;
  }

  private emit(v: Verdict): void {
    const late = this.config.inference.lateAfterMs;
    this.counts.settle(v.cameraId, v.verdict, late !== undefined && v.timings.totalMs > late);
    this.verdictSubject.next(v);
  }
}

/** A frame of a camera that runs no product, for a model that needs one. */
function noProduct(cameraId: string): LinewatchError {
  return new LinewatchError('LW_ERR_PRODUCT_UNKNOWN', `camera ${cameraId} runs no product (set cameras[].product, or <root>/${cameraId}/product): not judged against another product's prompt`);
}

/** A part the PLC announced whose frame never came: its partId and encoder position, no frame. */
function orphanVerdict(cameraId: string, t: Trigger, rules: RuleSet, modelVersion: string): Verdict {
  const cause = { code: REASON.NO_FRAME, message: `trigger ${t.triggerId ?? t.partId}: no frame came for this part` };
  // The trigger's product, when it named one: the verdict says which part never came.
  const meta = { ...(t.encoderPos !== undefined ? { encoderPos: t.encoderPos } : {}), triggerId: t.triggerId ?? t.partId, ...(t.product !== undefined ? { product: t.product } : {}) };
  return framelessVerdict(cameraId, cause, t.at, rules, modelVersion, { partId: t.partId, meta });
}

const LOSS_CAUSE: Record<LossReason, string> = {
  'appsink-overflow': 'dropped by the appsink (linewatch fell behind the camera)',
  upstream: 'lost before it reached linewatch (camera, network or pipeline: a gap in the source\'s frame numbers or timestamps)',
  restart: 'discarded when the camera pipeline was restarted',
  fault: 'discarded when the camera stream failed',
  'unreadable-file': 'an image file that could not be read was skipped',
};

/** One frame the source lost, with its seq (and partId when a trigger claimed it). */
function lostVerdict(lost: LostFrame, rules: RuleSet, modelVersion: string): Verdict {
  const cause = { code: REASON.LOST, message: `camera ${lost.cameraId}: frame ${lost.seq} lost, ${LOSS_CAUSE[lost.reason]}; not inspected` };
  return lostFrameVerdict(lost, cause, rules, modelVersion);
}

type CameraItem = Frame | LostFrame;

function isLost(item: CameraItem): item is LostFrame {
  return (item as Partial<LostFrame>).kind === 'lost';
}

function isFrame(item: CameraItem): item is Frame {
  return !isLost(item);
}

/**
 * A camera's frames and lost frames in one stream, in seq order: the source emits each lost frame
 * just before the frame that revealed it, both synchronously, so subscribing to `losses$` first
 * keeps that order. Completes with the frames.
 */
function interleave(frames$: Observable<Frame>, losses$: Observable<LostFrame>): Observable<CameraItem> {
  return new Observable<CameraItem>((sub) => {
    const lsub = losses$.subscribe((l) => sub.next(l));
    const fsub = frames$.subscribe({ next: (f) => sub.next(f), error: (e: unknown) => sub.error(e), complete: () => sub.complete() });
    return () => {
      lsub.unsubscribe();
      fsub.unsubscribe();
    };
  });
}

interface BuiltSources {
  readonly sources: FrameSource[];
  readonly gates: RoomGate[];
}

/**
 * One source per camera, built (GStreamer parses its pipeline) and checked (a folder must be a
 * readable folder with images) before anything running is touched. Throws LW_ERR_SOURCE_* naming the camera.
 */
async function buildSources(cameras: readonly CameraConfig[]): Promise<BuiltSources> {
  const gates = cameras.map(() => new RoomGate());
  const sources = cameras.map((cam, i) => createSource(cam.id, cam.source, { ready: () => gates[i]!.ready() }));
  for (let i = 0; i < sources.length; i++) {
    try {
      await sources[i]!.check?.();
    } catch (err) {
      if (err instanceof LinewatchError) throw new LinewatchError(err.code, `camera ${cameras[i]!.id}: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return { sources, gates };
}

function preprocessPool(q: Config['inference']): PreprocessPool {
  return new PreprocessPool(q.preprocessWorkers, { inlineBelowMs: q.preprocessInlineBelowMs });
}

function addTriggerCounts(into: TriggerCounts, c: Readonly<TriggerCounts>): void {
  into.matched += c.matched;
  into.unmatchedFrames += c.unmatchedFrames;
  into.orphanTriggers += c.orphanTriggers;
}
