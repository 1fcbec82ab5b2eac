/**
 * The peer row of `bench --cameras`: the same bundle and frames through the Python loop a user
 * would write (bench/peer/loop.py: onnxruntime + Pillow + scipy.ndimage.label, from trainer/.venv),
 * run as a child process; its figures come back as one JSON object on stdout.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/bench/). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** trainer/.venv's interpreter, where bin/trainer and `npm test` make it. */
export const PEER_PYTHON = `${ROOT}trainer/.venv/bin/python`;
/** The peer loop itself (not compiled: it stays in bench/peer/). */
export const PEER_SCRIPT = `${ROOT}bench/peer/loop.py`;

/** What the peer loop printed. */
export interface PeerReport {
  /** How it ran the cameras, e.g. "4 camera(s) in turn, batch 1, one process (python 3.11.2)". */
  readonly loop: string;
  readonly versions: Readonly<Record<string, string>>;
  readonly cameras: number;
  readonly threads: number;
  /** Frames processed, and those measured (after the warm-up). */
  readonly frames: number;
  readonly measuredFrames: number;
  /** Frames per second over the measured frames. */
  readonly fps: number;
  /** Per-frame time (preprocess + run + post-processing), ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Median ms of each stage: preprocess (Pillow, numpy), run (session.run), post (scipy, verdict). */
  readonly stagesMsP50?: { readonly preprocess: number; readonly run: number; readonly post: number };
  readonly rejects: number;
  /** Raw scores of the first frames (with --scores K). */
  readonly scores: readonly { name: string; camera: number; score: number; normScore: number; defects: number }[];
}

/**
 * Parses the loop's stdout (one JSON object, on its last non-empty line); throws with what is
 * wrong when a field is missing or not what it should be.
 *
 * @example
 * parsePeerReport('{"loop":"1 camera(s) in turn","versions":{},"cameras":1,"threads":1,"frames":40,"measuredFrames":36,"fps":30.1,"p50Ms":33,"p99Ms":35,"rejects":20,"scores":[]}\n').fps // 30.1
 */
export function parsePeerReport(stdout: string): PeerReport {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  const last = lines[lines.length - 1];
  if (last === undefined) throw new Error('peer loop: printed nothing');
  let o: unknown;
  try {
    o = JSON.parse(last);
  } catch {
    throw new Error(`peer loop: its last line is not JSON: ${last.slice(0, 200)}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('peer loop: its report is not a JSON object');
  const r = o as Record<string, unknown>;
  for (const k of ['cameras', 'threads', 'frames', 'measuredFrames', 'fps', 'p50Ms', 'p99Ms', 'rejects']) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`peer loop: ${k} is ${JSON.stringify(v)}, not a number ≥ 0`);
  }
  if (typeof r['loop'] !== 'string') throw new Error('peer loop: no "loop" description');
  if (typeof r['versions'] !== 'object' || r['versions'] === null) throw new Error('peer loop: no "versions"');
  if (!Array.isArray(r['scores'])) throw new Error('peer loop: "scores" is not a list');
  return r as unknown as PeerReport;
}

/**
 * Why the peer cannot run here (trainer/.venv or its onnxruntime, Pillow, scipy missing, and how
 * to install them), or null when it can.
 */
export function missingPeer(python = PEER_PYTHON): string | null {
  const install = 'install it with `bash scripts/ensure-deps.sh trainer` (Debian python3-pil and python3-scipy, trainer/.venv with onnxruntime; `npm test` does it too)';
  if (!existsSync(python)) return `${python} is missing; ${install}`;
  const r = spawnSync(python, ['-c', 'import onnxruntime, PIL, scipy.ndimage, numpy'], { encoding: 'utf8' });
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n').pop() ?? `exit ${r.status}`;
    return `${python} cannot import onnxruntime, PIL and scipy (${why}); ${install}`;
  }
  return null;
}

/**
 * Why the peer loop does not run this bundle (with this prompt): its own refusal (`loop.py
 * --check`, exit 3: tiles, a cosine-pool of prompts, a prompted bundle without --prompt), naming
 * the bundle; null when it runs it. Call after {@link missingPeer} (it needs the interpreter).
 *
 * @example
 * peerRefusal('test/fixtures/models/tiny-inp-tiles') // 'model bundle test/fixtures/models/tiny-inp-tiles: the peer loop covers bundles without tiles (…)'
 */
export function peerRefusal(modelDir: string, prompt: string | null = null, python = PEER_PYTHON): string | null {
  const args = [PEER_SCRIPT, '--model', modelDir, '--check', ...(prompt !== null ? ['--prompt', prompt] : [])];
  const r = spawnSync(python, args, { encoding: 'utf8' });
  if (r.status === 0) return null;
  const why = (r.stderr ?? '').trim().split('\n').pop() ?? '';
  return r.status === PEER_REFUSES ? why : `peer loop --check exited ${r.status ?? r.signal}: ${why}`;
}

/** loop.py's exit status when it does not cover a bundle (the reason on stderr). */
const PEER_REFUSES = 3;

export interface PeerOptions {
  readonly modelDir: string;
  /** The images the cameras replay. */
  readonly framesFrom: string;
  /** Frames in all, all cameras together. */
  readonly frames: number;
  readonly cameras: number;
  readonly intraOpThreads: number;
  /** Report the raw scores of the first K frames. Default 0. */
  readonly scores?: number;
  /** A prompted bundle's prompt image: prepared once as a frame, fed with every frame. */
  readonly prompt?: string | null;
  readonly python?: string;
}

/** Runs the peer loop once, to its end. */
export function runPeer(o: PeerOptions): Promise<PeerReport> {
  const args = [PEER_SCRIPT, '--model', o.modelDir, '--frames-from', o.framesFrom, '--frames', String(o.frames), '--cameras', String(o.cameras), '--threads', String(o.intraOpThreads), '--scores', String(o.scores ?? 0), ...(o.prompt !== undefined && o.prompt !== null ? ['--prompt', o.prompt] : [])];
  return new Promise((resolve, reject) => {
    // Its own threads only: OMP/MKL pools in numpy or scipy would otherwise take every core.
    const env = { ...process.env, OMP_NUM_THREADS: String(o.intraOpThreads), OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const child = spawn(o.python ?? PEER_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === PEER_REFUSES) {
        reject(new Error(`peer loop: ${err.trim().split('\n').pop() ?? ''}`));
        return;
      }
      if (code !== 0) {
        reject(new Error(`peer loop exited ${code}: ${err.trim().split('\n').slice(-5).join(' | ')}`));
        return;
      }
      try {
        resolve(parsePeerReport(out));
      } catch (e) {
        reject(e);
      }
    });
  });
}

/**
 * linewatch over the peer, as printed: "1.071 × peer (≥ 1.0: met)" (three decimals, so that a
 * ratio just under 1 does not print as 1.00 and NOT met). `ahead` asks for > 1 (more cameras),
 * else ≥ 1.
 *
 * @example
 * formatPeerRatio(31.2, 29.0, false) // '1.076 × peer (≥ 1.0: met)'
 */
export function formatPeerRatio(linewatchFps: number, peerFps: number, ahead: boolean): string {
  const ratio = linewatchFps / peerFps;
  if (!Number.isFinite(ratio)) return '– × peer';
  const ok = ahead ? ratio > 1 : ratio >= 1;
  return `${ratio.toFixed(3)} × peer (${ahead ? '> 1.0' : '≥ 1.0'}: ${ok ? 'met' : 'NOT met'})`;
}
