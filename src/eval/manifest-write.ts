/**
 * Rewrites the `calibration` section of a bundle's model.json, and nothing else: the file is
 * parsed as plain JSON so fields this runtime does not know survive, the result is validated
 * against the manifest schema before anything is touched, the old file is kept as a backup, and
 * the new one replaces it atomically (write beside, fsync, rename). The manifest's sha256 covers
 * the ONNX file only, so it stays valid.
 */
import { copyFile, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LinewatchError, errorMessage } from '../errors.js';
import { MANIFEST_FILE } from '../models/bundle.js';
import { manifestSchema } from '../models/manifest.js';
import type { Calibration } from './calibrate-dataset.js';

/**
 * Writes `calibration` into `<dir>/model.json`; returns the backup's path.
 * @param now clock for the backup name (tests pass a fixed one)
 * @example const backup = await writeCalibration('models/demo', result.calibration);
 */
export async function writeCalibration(dir: string, calibration: Calibration, now: Date = new Date()): Promise<string> {
  const path = join(dir, MANIFEST_FILE);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new LinewatchError('LW_ERR_MANIFEST_WRITE', `${path}: cannot read it to update the calibration (${errorMessage(err)})`, { cause: err });
  }
  const next = { ...doc, calibration };
  const check = manifestSchema.safeParse(next);
  if (!check.success) {
    const lines = check.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new LinewatchError('LW_ERR_MANIFEST_WRITE', `${path}: the new calibration would not match the manifest schema:\n${lines}`);
  }
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const backup = `${path}.${stamp}.bak`;
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await copyFile(path, backup);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify(next, null, 2)}\n`, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new LinewatchError('LW_ERR_MANIFEST_WRITE', `${path}: ${errorMessage(err)} (the old model.json is unchanged)`, { cause: err });
  }
  return backup;
}
