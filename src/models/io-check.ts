/**
 * Does the graph match its manifest? Names, dtypes, ranks and fixed dimensions of every input and
 * output the runtime uses. Pure: takes the session's metadata, returns the mismatches.
 */
import { LinewatchError } from '../errors.js';
import type { Manifest } from './manifest.js';

/** A graph value as the session describes it: dims are numbers, or strings for symbolic ones. */
export interface GraphValue {
  readonly name: string;
  /** ONNX Runtime's type name ('float32', 'uint8', …); null for non-tensors. */
  readonly type: string | null;
  readonly shape: readonly (number | string)[];
}

export interface ExpectedValue {
  readonly role: string;
  readonly name: string;
  readonly type: string;
  /** null = any size (dynamic batch). */
  readonly shape: readonly (number | null)[];
}

/** The inputs the manifest says the graph has, in the manifest's words. */
export function expectedInputs(m: Manifest): ExpectedValue[] {
  const i = m.input;
  const batch = i.batch === 'dynamic' ? null : i.batch;
  const shape = i.layout === 'NHWC' ? [batch, i.height, i.width, i.channels] : [batch, i.channels, i.height, i.width];
  const out: ExpectedValue[] = [{ role: 'input', name: i.name, type: i.dtype, shape }];
  if (m.prompt !== null) out.push({ role: 'prompt', name: m.prompt.name, type: i.dtype, shape });
  return out;
}

/** The outputs the runtime reads: the [N,1,H,W] map and, when named, the [N] score. */
export function expectedOutputs(m: Manifest): ExpectedValue[] {
  const batch = m.input.batch === 'dynamic' ? null : m.input.batch;
  const am = m.outputs.anomalyMap;
  const out: ExpectedValue[] = [{ role: 'anomalyMap', name: am.name, type: 'float32', shape: [batch, 1, am.height, am.width] }];
  if (m.outputs.score.name !== null) out.push({ role: 'score', name: m.outputs.score.name, type: 'float32', shape: [batch] });
  return out;
}

function fmtShape(shape: readonly (number | string | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

function compare(kind: 'input' | 'output', want: ExpectedValue, got: GraphValue | undefined, problems: string[]): void {
  const what = `${kind} "${want.name}" (manifest ${want.role})`;
  if (got === undefined) {
    problems.push(`${what}: the graph has no such ${kind}`);
    return;
  }
  if (got.type !== want.type) problems.push(`${what}: manifest says ${want.type}, graph has ${got.type ?? 'a non-tensor'}`);
  if (got.shape.length !== want.shape.length) {
    problems.push(`${what}: manifest says rank ${want.shape.length} ${fmtShape(want.shape)}, graph has rank ${got.shape.length} ${fmtShape(got.shape)}`);
    return;
  }
  for (let d = 0; d < want.shape.length; d++) {
    const w = want.shape[d] as number | null;
    const g = got.shape[d] as number | string;
    // A symbolic graph dim accepts any fixed size; a fixed graph dim must match the manifest exactly.
    if (typeof g === 'number' && g !== w) {
      problems.push(`${what}: dimension ${d} is ${g} in the graph ${fmtShape(got.shape)} but ${w === null ? 'dynamic' : w} in the manifest ${fmtShape(want.shape)}`);
    }
  }
}

/** Every mismatch between the graph and the manifest, as sentences; empty when they agree. */
export function graphMismatches(m: Manifest, inputs: readonly GraphValue[], outputs: readonly GraphValue[]): string[] {
  const problems: string[] = [];
  const wantIn = expectedInputs(m);
  for (const w of wantIn) compare('input', w, inputs.find((g) => g.name === w.name), problems);
  for (const g of inputs) {
    if (!wantIn.some((w) => w.name === g.name)) problems.push(`input "${g.name}" ${fmtShape(g.shape)}: the graph needs it but the manifest does not name it`);
  }
  for (const w of expectedOutputs(m)) compare('output', w, outputs.find((g) => g.name === w.name), problems);
  for (const name of m.outputs.extra) {
    if (!outputs.some((g) => g.name === name)) problems.push(`output "${name}" (manifest extra): the graph has no such output`);
  }
  return problems;
}

/** Throws LW_ERR_BUNDLE_IO_MISMATCH naming both files and every mismatch. */
export function assertGraphMatches(m: Manifest, onnxPath: string, manifestPath: string, inputs: readonly GraphValue[], outputs: readonly GraphValue[]): void {
  const problems = graphMismatches(m, inputs, outputs);
  if (problems.length > 0) {
    throw new LinewatchError(
      'LW_ERR_BUNDLE_IO_MISMATCH',
      `${onnxPath} does not match ${manifestPath}:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
}
