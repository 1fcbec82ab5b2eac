/**
 * What a bundle is, in one report: identity, tensors, geometry, post-processing, calibration,
 * training summary, and which execution provider it runs on here (by actually opening a session).
 */
import { stat } from 'node:fs/promises';
import { errorMessage, LinewatchError } from '../errors.js';
import { adapterFor, describeNeeds, type ModelNeeds } from './adapters/index.js';
import { loadBundle } from './bundle.js';
import { InferenceEngine } from './engine.js';
import type { GraphValue } from './io-check.js';
import type { Manifest, MapStep } from './manifest.js';
import {
  PROVIDER_NAMES,
  describeMissingLibraries,
  missingProviderLibraries,
  type MissingProviderLibraries,
  type ProviderConfig,
  type ProviderFallback,
} from './providers.js';

export interface InspectReport {
  readonly dir: string;
  readonly onnxPath: string;
  readonly onnxBytes: number;
  /** The manifest as validated (defaults filled); the sha256 in it was checked against the file. */
  readonly manifest: Manifest;
  /** The adapter manifest.architecture chose, and what the model needs per frame besides its pixels. */
  readonly adapter: { readonly kind: string; readonly needs: ModelNeeds; readonly needsText: string };
  /** Every provider linewatch knows: usable here, or why not (libraries looked for without loading them). */
  readonly providers: {
    readonly here: readonly { readonly provider: string; readonly state: 'in use' | 'installed, not tried' }[];
    readonly notHere: readonly { readonly provider: string; readonly reason: string; readonly missing: MissingProviderLibraries | null }[];
  };
  readonly session:
    | { readonly ok: true; readonly provider: string; readonly fallbacks: readonly ProviderFallback[]; readonly inputs: readonly GraphValue[]; readonly outputs: readonly GraphValue[] }
    | { readonly ok: false; readonly code: string; readonly error: string };
}

/** Best first: what "would it run on here" means when the caller names no list. */
export const INSPECT_DEFAULT_PROVIDERS: readonly ProviderConfig[] = ['tensorrt', 'cuda', 'cpu'];

/** Which providers are usable here, from the session (the one in use, the ones it fell back from) and the libraries on disk. */
function providerSummary(session: InspectReport['session']): InspectReport['providers'] {
  const here: { provider: string; state: 'in use' | 'installed, not tried' }[] = [];
  const notHere: { provider: string; reason: string; missing: MissingProviderLibraries | null }[] = [];
  for (const provider of PROVIDER_NAMES) {
    if (session.ok && session.provider === provider) {
      here.push({ provider, state: 'in use' });
      continue;
    }
    const missing = missingProviderLibraries(provider);
    const fell = session.ok ? session.fallbacks.find((f) => f.provider === provider) : undefined;
    if (missing !== null) notHere.push({ provider, reason: describeMissingLibraries(missing), missing });
    else if (fell !== undefined) notHere.push({ provider, reason: fell.reason, missing: null });
    else here.push({ provider, state: 'installed, not tried' });
  }
  return { here, notHere };
}

/** The providers line: which are usable here, and why the others are not, in one line. */
function providersLine(p: InspectReport['providers']): string {
  const here = p.here.map((h) => `${h.provider} (${h.state})`).join(', ');
  const parts: string[] = [];
  const libs = p.notHere.filter((n) => n.missing !== null);
  if (libs.length > 0) {
    const files = [...new Set(libs.flatMap((n) => n.missing!.files))];
    parts.push(
      `${libs.map((n) => n.provider).join(', ')}: ONNX Runtime's ${files.join(', ')} are not installed beside its library in ${libs[0]!.missing!.dir} (deploy/jetson/build-onnxruntime.sh builds an onnxruntime with them)`,
    );
  }
  for (const n of p.notHere) if (n.missing === null) parts.push(`${n.provider}: ${n.reason}`);
  return `here: ${here.length > 0 ? here : 'none'}${parts.length > 0 ? `; not here: ${parts.join('; ')}` : ''}`;
}

/**
 * Loads and verifies the bundle and chooses its adapter (throws as loadBundle and adapterFor do),
 * then opens one session to find the provider and check the graph; a session failure is
 * reported, not thrown. GPU providers whose libraries are not installed are not tried (ONNX
 * Runtime would print its own errors for them).
 */
export async function inspectBundle(dir: string, providers: readonly ProviderConfig[] = INSPECT_DEFAULT_PROVIDERS): Promise<InspectReport> {
  const bundle = await loadBundle(dir);
  const a = adapterFor(bundle);
  const adapter = { kind: a.kind, needs: a.needs, needsText: describeNeeds(a.needs) };
  const onnxBytes = (await stat(bundle.onnxPath)).size;
  let session: InspectReport['session'];
  try {
    const engine = await InferenceEngine.create(bundle, {
      workers: 1,
      intraOpThreads: 1,
      // One zero batch: graphs often leave the map's size symbolic; only a run shows the real one.
      warmup: true,
      executionProviders: providers,
      logger: { warn: () => {}, info: () => {} },
    });
    session = { ok: true, provider: engine.provider, fallbacks: engine.fallbacks, inputs: engine.graphInputs, outputs: engine.graphOutputs };
    await engine.close();
  } catch (err) {
    session = { ok: false, code: err instanceof LinewatchError ? err.code : 'LW_ERR_SESSION_CREATE', error: errorMessage(err) };
  }
  return { dir: bundle.dir, onnxPath: bundle.onnxPath, onnxBytes, manifest: bundle.manifest, adapter, providers: providerSummary(session), session };
}

function step(s: MapStep): string {
  return s.op === 'resize'
    ? `bilinear resize to ${s.width}x${s.height} (align_corners ${s.alignCorners})`
    : `gaussian σ=${s.sigma} kernel ${s.kernel} (${s.padding} padding)`;
}

function shape(v: GraphValue): string {
  return `${v.name} ${v.type ?? 'non-tensor'} [${v.shape.join(',')}]`;
}

function summary(rec: Record<string, unknown>): string[] {
  return Object.entries(rec).map(([k, v]) => `    ${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
}

/** The report as lines for a person at a terminal. */
export function formatInspectReport(r: InspectReport): string {
  const m = r.manifest;
  const i = m.input;
  const am = m.outputs.anomalyMap;
  const g = m.geometry;
  const lines: string[] = [
    `bundle       ${r.dir}`,
    `model        ${m.architecture} ${m.version} (${m.format})`,
    `adapter      ${r.adapter.kind}; needs ${r.adapter.needsText}`,
    `onnx         ${m.file}, ${(r.onnxBytes / 1024 / 1024).toFixed(2)} MiB, sha256 ${m.sha256} (verified)${m.opset !== undefined ? `, opset ${m.opset}` : ''}`,
    `input        ${i.name}: ${i.dtype} ${i.layout} ${i.height}x${i.width}x${i.channels} ${i.colorOrder}, values ${i.valueRange[0]}–${i.valueRange[1]}, batch ${i.batch}, ${
      i.normalize === null ? 'normalised in the graph' : `runtime normalises mean ${i.normalize.mean.join('/')} std ${i.normalize.std.join('/')}`
    }`,
  ];
  if (m.prompt !== null) lines.push(`prompt       ${m.prompt.name}: ${m.prompt.selection}${m.prompt.pool !== undefined ? ` from ${m.prompt.pool}` : ''}`);
  lines.push(
    `geometry     resize ${g.resize.width}x${g.resize.height} ${g.resize.method}${g.resize.antialias ? ' antialiased' : ''}${
      g.crop === null ? ', no crop' : `, centre crop ${g.crop.width}x${g.crop.height}`
    }`,
    `anomaly map  ${am.name}: ${am.width}x${am.height}`,
    `  in graph   ${am.appliedInGraph.length === 0 ? 'nothing' : am.appliedInGraph.map(step).join(', then ')}`,
    `  runtime    ${am.runtimeSteps.length === 0 ? 'nothing' : am.runtimeSteps.map(step).join(', then ')}`,
    `score        ${m.outputs.score.name === null ? `computed by the runtime: ${JSON.stringify(m.outputs.score.rule)}` : `graph output ${m.outputs.score.name} (${JSON.stringify(m.outputs.score.rule)})`}`,
    `calibration  ${m.calibration.method}: image threshold ${m.calibration.image.threshold} [${m.calibration.image.min}, ${m.calibration.image.max}], pixel threshold ${m.calibration.pixel.threshold} [${m.calibration.pixel.min}, ${m.calibration.pixel.max}]`,
  );
  const gs = m.calibration.goodImageScores;
  if (gs !== undefined) lines.push(`  good imgs  n=${gs.n} mean ${gs.mean} std ${gs.std} min ${gs.min} max ${gs.max}`);
  if (Object.keys(m.training).length > 0) lines.push('training', ...summary(m.training));
  if (Object.keys(m.metrics).length > 0) lines.push('metrics', ...summary(m.metrics));
  const s = r.session;
  if (s.ok) {
    lines.push(`provider     ${s.provider} (here)`, `providers    ${providersLine(r.providers)}`);
    lines.push(`graph in     ${s.inputs.map(shape).join('; ')}`, `graph out    ${s.outputs.map(shape).join('; ')}`);
  } else {
    lines.push(`session      FAILED ${s.code}: ${s.error}`, `providers    ${providersLine(r.providers)}`);
  }
  return `${lines.join('\n')}\n`;
}
