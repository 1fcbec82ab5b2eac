/**
 * A folder's entries and image files with symbolic links followed (eval's data sets, products'
 * pool folders): sets are often assembled from links (scripts/split-defects.sh links the defects
 * it holds out; a line links the day's saved frames), and a linked image or folder must count
 * exactly like a real one.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { LinewatchError } from '../errors.js';

export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp']);

export interface FolderEntry {
  readonly name: string;
  readonly kind: 'file' | 'dir';
}

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/**
 * Files and folders in `dir`, by name; links resolved to what they point at. A link that points
 * nowhere is refused, naming it: skipping it would silently drop an image from the figures.
 */
export async function folderEntries(dir: string): Promise<FolderEntry[]> {
  const out: FolderEntry[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) out.push({ name: e.name, kind: 'file' });
    else if (e.isDirectory()) out.push({ name: e.name, kind: 'dir' });
    else if (e.isSymbolicLink()) {
      let target;
      try {
        target = await stat(join(dir, e.name));
      } catch {
        throw new LinewatchError('LW_ERR_DATASET_LAYOUT', `${join(dir, e.name)}: a link to nothing (its target does not exist)`);
      }
      if (target.isFile()) out.push({ name: e.name, kind: 'file' });
      else if (target.isDirectory()) out.push({ name: e.name, kind: 'dir' });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The image files directly in `dir` (links followed), by name in file-name order. */
export async function listImages(dir: string): Promise<string[]> {
  return (await folderEntries(dir)).filter((e) => e.kind === 'file' && isImageName(e.name)).map((e) => e.name);
}
