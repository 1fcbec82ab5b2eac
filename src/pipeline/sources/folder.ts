import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, parse } from 'node:path';
import { Observable } from 'rxjs';
import { LinewatchError, errorMessage } from '../../errors.js';
import { captureTimeNow, type Frame } from '../frame.js';
import type { FrameSource } from '../source.js';
import { createPacer } from './pacing.js';
import type { FolderSourceConfig } from './schema.js';

/** File extensions read as images (sharp decodes them). */
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.gif']);

/** The image files of a folder, sorted by name (byte order, so the order is the same everywhere). */
export async function listImages(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new LinewatchError('LW_ERR_SOURCE_OPEN', `folder source ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const files: string[] = [];
  for (const e of entries) {
    // Symbolic links are followed when read; a folder named like an image is not an image.
    if ((e.isFile() || e.isSymbolicLink()) && IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) files.push(e.name);
  }
  files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (files.length === 0) {
    throw new LinewatchError(
      'LW_ERR_SOURCE_OPEN',
      `folder source ${dir}: no image files (${[...IMAGE_EXTENSIONS].join(' ')})`,
    );
  }
  return files;
}

/**
 * Images in a folder, sorted, once or looped; the file name without extension becomes partId.
 * Frames carry the still-encoded bytes: decoding happens in preprocess, so a corrupt file becomes
 * an `error` verdict there and the stream goes on. An unreadable file is sent as an empty image
 * for the same reason.
 */
export class FolderSource implements FrameSource {
  readonly kind = 'folder';
  readonly cameraId: string;
  private readonly config: FolderSourceConfig;
  private readonly ready: (() => Promise<void>) | undefined;

  constructor(cameraId: string, config: FolderSourceConfig, ready?: () => Promise<void>) {
    this.cameraId = cameraId;
    this.config = config;
    this.ready = ready;
  }

  frames(): Observable<Frame> {
    return new Observable<Frame>((sub) => {
      let stopped = false;
      const run = async (): Promise<void> => {
        const dir = this.config.path;
        const files = await listImages(dir);
        const pacer = createPacer(this.config.fps, this.ready);
        let seq = 0;
        do {
          for (let i = 0; i < files.length; i++) {
            await pacer.next();
            if (stopped) return;
            const name = files[i]!;
            const path = join(dir, name);
            const capturedAt = captureTimeNow();
            let data: Buffer;
            try {
              data = await readFile(path);
            } catch {
              data = Buffer.alloc(0);
            }
            if (stopped) return;
            sub.next({
              seq: seq++,
              cameraId: this.cameraId,
              capturedAt,
              image: { kind: 'encoded', data, origin: path },
              meta: { partId: parse(name).name, file: path },
            });
          }
        } while (this.config.loop && !stopped);
        sub.complete();
      };
      run().catch((err: unknown) => sub.error(err));
      return () => {
        stopped = true;
      };
    });
  }
}
