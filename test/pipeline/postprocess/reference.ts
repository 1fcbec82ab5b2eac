/** The PyTorch reference values (test/fixtures/postprocess/reference.json, made by make_reference.py). */
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import type { MapStep } from '../../../src/models/manifest.js';
import type { ScoreRule } from '../../../src/pipeline/postprocess/index.js';

export interface BilinearCase { inHeight: number; inWidth: number; outHeight: number; outWidth: number; alignCorners: boolean; input: number[]; output: number[] }
export interface GaussianCase { height: number; width: number; kernel: number; sigma: number; padding: 'zero' | 'reflect'; input: number[]; output: number[] }
export interface ScoreCase { height: number; width: number; rule: ScoreRule; input: number[]; score: number }
export interface ChainCase { n: number; inHeight: number; inWidth: number; steps: MapStep[]; rule: ScoreRule; input: number[]; maps: number[]; scores: number[] }

export interface Reference { bilinear: BilinearCase[]; gaussian: GaussianCase[]; score: ScoreCase[]; chain: ChainCase[] }

export const reference: Reference = JSON.parse(
  readFileSync(new URL('../../../../test/fixtures/postprocess/reference.json', import.meta.url), 'utf8'),
) as Reference;

/** Largest |a − b| over the arrays; fails when lengths differ. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'array lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
