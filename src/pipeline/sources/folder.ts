import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, parse } from 'node:path';
import { Observable } from 'rxjs';
import sharp from 'sharp';
import { LinewatchError, errorMessage } from '../../errors.js';
import { captureTimeNow, type Frame, type FrameImage } from '../frame.js';
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

/** Pixels `preload` may hold before it refuses the folder. */
const PRELOAD_LIMIT_BYTES = 2 * 2 ** 30;

/** A file's bytes, or an empty buffer when it cannot be read (sent on so that it becomes an `error` verdict). */
async function readOrEmpty(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/**
 * A file as a camera would deliver it: raw GRAY8 (grey images) or RGB pixels. What sharp cannot
 * decode stays encoded, so preprocess turns it into the same `error` verdict as without preload.
 */
async function decodeOnce(path: string): Promise<FrameImage> {
  const data = await readOrEmpty(path);
  if (data.length === 0) return { kind: 'encoded', data, origin: path };
  try {
    const img = sharp(data, { failOn: 'error' });
    const meta = await img.metadata();
    const grey = meta.channels !== undefined && meta.channels <= 2;
    const out = await (grey ? img.toColourspace('b-w') : img.toColourspace('srgb')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { kind: 'raw', format: out.info.channels === 1 ? 'GRAY8' : 'RGB', width: out.info.width, height: out.info.height, data: out.data };
  } catch {
    return { kind: 'encoded', data, origin: path };
  }
}

/** Every file decoded once (see `preload`), refused whole when the pixels would not fit the limit. */
async function preloadImages(dir: string, files: readonly string[]): Promise<FrameImage[]> {
  const images: FrameImage[] = [];
  let bytes = 0;
  for (const name of files) {
    const image = await decodeOnce(join(dir, name));
    bytes += image.data.length;
    if (bytes > PRELOAD_LIMIT_BYTES) {
      throw new LinewatchError(
        'LW_ERR_SOURCE_OPEN',
        `folder source ${dir}: preload would hold more than ${PRELOAD_LIMIT_BYTES / 2 ** 20} MiB of pixels (at ${name}); set preload: false`,
      );
    }
    images.push(image);
  }
  return images;
}

/**
 * Images in a folder, sorted, once or looped; the file name without extension becomes partId.
 * Frames carry the still-encoded bytes: decoding happens in preprocess, so a corrupt file becomes
 * an `error` verdict there and the stream goes on. An unreadable file is sent as an empty image
 * for the same reason. With `preload` the files are decoded once at start and sent as raw pixels.
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

  /** A readable folder with at least one image (`/dev/zero` or a file is refused with why). */
  async check(): Promise<void> {
    await listImages(this.config.path);
  }

  frames(): Observable<Frame> {
    return new Observable<Frame>((sub) => {
      let stopped = false;
      const run = async (): Promise<void> => {
        const dir = this.config.path;
        const files = await listImages(dir);
        const preloaded = this.config.preload ? await preloadImages(dir, files) : null;
        const pacer = createPacer(this.config.fps, this.ready);
        let seq = 0;
        do {
          for (let i = 0; i < files.length; i++) {
            await pacer.next();
            if (stopped) return;
            const name = files[i]!;
            const path = join(dir, name);
            const capturedAt = captureTimeNow();
            const image: FrameImage = preloaded !== null ? preloaded[i]! : { kind: 'encoded', data: await readOrEmpty(path), origin: path };
            if (stopped) return;
            sub.next({
              seq: seq++,
              cameraId: this.cameraId,
              capturedAt,
              image,
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
