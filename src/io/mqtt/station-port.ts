import type { Observable } from 'rxjs';
import type { JudgedFrame } from '../../pipeline/inspect/index.js';
import type { Trigger } from '../../pipeline/triggers.js';
import type { Verdict } from '../../pipeline/verdict.js';

/**
 * What the MQTT interface needs from the runtime's Station (docs/architecture.md). Structural, so
 * the Station satisfies it without importing from here, and a test can drive the link with a plain
 * Subject of verdicts.
 */
export interface StationPort<C> {
  readonly verdicts$: Observable<Verdict>;
  /** Frame accounting; numeric fields are published as counters. */
  counters(): object;
  /** Read defensively (see `readHealth`): state/ok, reasons, model version and hash. */
  health(): unknown;
  /** Throws, or resolves to something with `ok: false` and reasons, when the configuration is refused. */
  applyConfig(next: C): Promise<unknown>;
  /** Judged frames with their maps, for …/heatmap; absent = no heatmaps. */
  readonly judged$?: Observable<JudgedFrame>;
  /** Pixel calibration of the model in force, to scale the heatmap colours. */
  activeManifest?(): { readonly calibration: { readonly pixel: { readonly min: number; readonly max: number } } };
  /** Takes the PLC's triggers from `<root>/trigger`; absent = the topic is not subscribed. */
  pushTrigger?(trigger: Trigger): void;
}

export interface HealthView {
  readonly degradedReasons: readonly string[];
  readonly modelVersion: string | null;
  readonly modelSha256: string | null;
  /** Execution provider in use, and the ones skipped with why (e.g. tensorrt missing on this machine). */
  readonly modelProvider: string | null;
  readonly modelFallbacks: readonly { readonly provider: string; readonly reason: string }[];
  /** TensorRT engine cache state (`cached`, `build-needed`, `disabled`) while TensorRT runs. */
  readonly tensorrtEngine: string | null;
  /** Each camera's state and what its source can tell about lost frames (docs/cameras.md). */
  readonly cameras: readonly CameraView[];
}

export interface CameraView {
  readonly id: string;
  readonly state: string;
  /** `dropped`: frames the source drops itself, `upstream`: how losses before it show (`none`: they cannot). */
  readonly losses: { readonly dropped: string; readonly upstream: string } | null;
}

function readCamera(c: unknown): CameraView | null {
  const rec = asRecord(c);
  if (rec === null || typeof rec['id'] !== 'string') return null;
  const state = asRecord(rec['health'])?.['state'];
  const l = asRecord(rec['losses']);
  const losses = l !== null && typeof l['dropped'] === 'string' && typeof l['upstream'] === 'string' ? { dropped: l['dropped'], upstream: l['upstream'] } : null;
  return { id: rec['id'], state: typeof state === 'string' ? state : 'unknown', losses };
}

function asRecord(x: unknown): Record<string, unknown> | null {
  return typeof x === 'object' && x !== null ? (x as Record<string, unknown>) : null;
}

function reasonText(r: unknown): string {
  if (typeof r === 'string') return r;
  const rec = asRecord(r);
  if (rec !== null && typeof rec['message'] === 'string') {
    return typeof rec['code'] === 'string' ? `${rec['code']}: ${rec['message']}` : rec['message'];
  }
  return JSON.stringify(r);
}

/** Tolerant reading of Station.health(): unknown fields are ignored, nothing here throws. */
export function readHealth(h: unknown): HealthView {
  const rec = asRecord(h);
  const reasons: string[] = [];
  if (rec !== null) {
    const rs = rec['reasons'];
    if (Array.isArray(rs)) for (const r of rs) reasons.push(reasonText(r));
    const state = rec['state'] ?? rec['status'];
    if (reasons.length === 0 && ((typeof state === 'string' && state !== 'ok') || rec['ok'] === false)) {
      reasons.push(typeof state === 'string' ? state : 'station reports not ok');
    }
  }
  const model = asRecord(rec?.['model']);
  const version = model?.['version'] ?? rec?.['modelVersion'];
  const sha = model?.['sha256'] ?? rec?.['modelSha256'];
  const provider = model?.['provider'];
  const fallbacks = Array.isArray(model?.['fallbacks']) ? (model['fallbacks'] as unknown[]) : [];
  const trt = asRecord(model?.['tensorrtEngine'])?.['state'];
  return {
    degradedReasons: reasons,
    modelVersion: typeof version === 'string' ? version : null,
    modelSha256: typeof sha === 'string' ? sha : null,
    modelProvider: typeof provider === 'string' ? provider : null,
    modelFallbacks: fallbacks.map((f) => {
      const r = asRecord(f);
      return { provider: String(r?.['provider'] ?? ''), reason: String(r?.['reason'] ?? '') };
    }),
    tensorrtEngine: typeof trt === 'string' ? trt : null,
    cameras: Array.isArray(rec?.['cameras']) ? (rec['cameras'] as unknown[]).map(readCamera).filter((c): c is CameraView => c !== null) : [],
  };
}

/** Numeric fields of Station.counters(). */
export function readCounters(c: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === 'number') out[k] = v;
  return out;
}

/** Station.applyConfig's outcome as refusal reasons (empty = applied). */
export function applyRefusal(result: unknown): string[] {
  const rec = asRecord(result);
  if (rec === null) return [];
  if (rec['ok'] === false || rec['applied'] === false || rec['accepted'] === false) {
    const rs = rec['reasons'] ?? rec['errors'];
    if (Array.isArray(rs) && rs.length > 0) return rs.map(reasonText);
    const r = rec['reason'] ?? rec['error'] ?? rec['message'];
    return [r === undefined ? 'the station refused the configuration' : reasonText(r)];
  }
  return [];
}
