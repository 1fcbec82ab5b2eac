/**
 * Discovery of evaluation images in the MVTec AD layout:
 *
 * ```
 * <category>/test/good/*.png                      good parts
 * <category>/test/<defect>/*.png                  defective parts, one folder per defect type
 * <category>/ground_truth/<defect>/<name>_mask.png  their masks (non-zero = defective)
 * <category>/train/good/                          training images: not used for evaluation
 * ```
 *
 * `--data` names one category folder, or a folder holding several. Only test/ is read: the model
 * has seen train/good, so its scores there are optimistic and would set thresholds too low.
 */
import { stat } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { LinewatchError } from '../errors.js';
import { IMAGE_EXTENSIONS, folderEntries, listImages } from '../util/image-files.js';

interface SampleBase {
  readonly category: string;
  /** 'good' or the defect folder name. */
  readonly defectType: string;
  readonly path: string;
  /** Path relative to the data root, for reports. */
  readonly name: string;
}
export interface GoodSample extends SampleBase {
  readonly label: 0;
  readonly maskPath: null;
}
export interface DefectSample extends SampleBase {
  readonly label: 1;
  /** null only when the category has no ground_truth/ at all (image-level evaluation only). */
  readonly maskPath: string | null;
}
export type EvalSample = GoodSample | DefectSample;

export interface EvalCategory {
  readonly name: string;
  readonly dir: string;
  /** True when every defective image has a mask: pixel metrics are computed. */
  readonly hasMasks: boolean;
  readonly samples: readonly EvalSample[];
}

export interface EvalDataset {
  readonly root: string;
  readonly categories: readonly EvalCategory[];
}

function layoutError(message: string): LinewatchError {
  return new LinewatchError('LW_ERR_DATASET_LAYOUT', message);
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function subdirs(dir: string): Promise<string[]> {
  return (await folderEntries(dir)).filter((e) => e.kind === 'dir' && !e.name.startsWith('.')).map((e) => e.name);
}

async function findMask(gtDir: string, defect: string, file: string): Promise<string | null> {
  const stem = basename(file, extname(file));
  const folder = join(gtDir, defect);
  if (!(await isDir(folder))) return null;
  for (const candidate of [`${stem}_mask.png`, `${stem}.png`, `${stem}_mask${extname(file)}`]) {
    try {
      if ((await stat(join(folder, candidate))).isFile()) return join(folder, candidate);
    } catch {
      // try the next naming convention
    }
  }
  return null;
}

async function discoverCategory(root: string, dir: string, name: string): Promise<EvalCategory> {
  const testDir = join(dir, 'test');
  const defectFolders = await subdirs(testDir);
  if (defectFolders.length === 0) {
    throw layoutError(`${testDir}: no subfolders; expected test/good and one folder per defect type`);
  }
  const gtDir = join(dir, 'ground_truth');
  const hasGt = await isDir(gtDir);
  const samples: EvalSample[] = [];
  let missingMasks = 0;
  let firstMissing = '';
  for (const defect of defectFolders) {
    const folder = join(testDir, defect);
    const files = await listImages(folder);
    if (files.length === 0) throw layoutError(`${folder}: no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
    for (const file of files) {
      const path = join(folder, file);
      const base = { category: name, defectType: defect, path, name: relative(root, path) || file };
      if (defect === 'good') {
        samples.push({ ...base, label: 0, maskPath: null });
        continue;
      }
      const maskPath = hasGt ? await findMask(gtDir, defect, file) : null;
      if (hasGt && maskPath === null) {
        missingMasks++;
        if (firstMissing === '') firstMissing = `${join(gtDir, defect, basename(file, extname(file)))}_mask.png`;
      }
      samples.push({ ...base, label: 1, maskPath });
    }
  }
  if (missingMasks > 0) {
    throw layoutError(
      `${gtDir}: ${missingMasks} defective image(s) of ${name} have no mask (first expected: ${firstMissing}); ` +
        'remove ground_truth/ for image-level evaluation only',
    );
  }
  return { name, dir, hasMasks: hasGt, samples };
}

/**
 * Finds the categories and test images under `dir`.
 * @throws LinewatchError LW_ERR_DATASET_LAYOUT naming the folder that does not fit
 * @example const { categories } = await discoverDataset('../shared/data/mvtec-bottle-448');
 */
export async function discoverDataset(dir: string): Promise<EvalDataset> {
  if (!(await isDir(dir))) throw layoutError(`${dir}: not a folder`);
  if (await isDir(join(dir, 'test'))) {
    return { root: dir, categories: [await discoverCategory(dir, dir, basename(dir))] };
  }
  const categories: EvalCategory[] = [];
  for (const sub of await subdirs(dir)) {
    const catDir = join(dir, sub);
    if (await isDir(join(catDir, 'test'))) categories.push(await discoverCategory(dir, catDir, sub));
  }
  if (categories.length === 0) {
    throw layoutError(
      `${dir}: neither an MVTec AD category (no test/ folder) nor a folder of categories (no <category>/test/)`,
    );
  }
  return { root: dir, categories };
}
