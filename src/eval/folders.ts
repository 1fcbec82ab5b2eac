/**
 * A calibration set from plain folders, as a line has them on its first day: good parts saved from
 * the line in one folder, and (when there are any) the few defective parts found in another — no
 * MVTec layout, no masks. Sub-folders are read too (a folder per day, or per defect type: its name
 * becomes the defect type).
 */
import { stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { LinewatchError } from '../errors.js';
import type { EvalDataset, EvalSample } from './dataset.js';
import { IMAGE_EXTENSIONS, folderEntries, isImageName } from '../util/image-files.js';

async function imagesUnder(dir: string): Promise<string[]> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `${dir}: folder does not exist`);
  }
  if (!info.isDirectory()) throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `${dir}: not a folder`);
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await folderEntries(d)) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.kind === 'dir') await walk(p);
      else if (isImageName(e.name)) out.push(p);
    }
  };
  await walk(dir);
  if (out.length === 0) throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `${dir}: no images (${[...IMAGE_EXTENSIONS].join(', ')}) in it or below`);
  return out;
}

/**
 * One category, named after the good folder, of every image under `good` (label 0) and under
 * `defective` (label 1, no masks: image-level only).
 * @example const set = await datasetFromFolders('/data/line3/good', '/data/line3/rejects');
 */
export async function datasetFromFolders(good: string, defective?: string): Promise<EvalDataset> {
  const root = resolve(good);
  const name = basename(root);
  const samples: EvalSample[] = [];
  for (const path of await imagesUnder(root)) {
    samples.push({ category: name, defectType: 'good', path, name: relative(root, path), label: 0, maskPath: null });
  }
  if (defective !== undefined) {
    const bad = resolve(defective);
    for (const path of await imagesUnder(bad)) {
      const sub = relative(bad, path).split('/');
      const defectType = sub.length > 1 ? (sub[0] as string) : 'defective';
      samples.push({ category: name, defectType, path, name: join('defective', relative(bad, path)), label: 1, maskPath: null });
    }
  }
  return { root, categories: [{ name, dir: root, hasMasks: false, samples }] };
}
