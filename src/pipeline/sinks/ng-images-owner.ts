import type { Observable, Subscription } from 'rxjs';
import type { Config } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { JudgedFrame } from '../inspect/index.js';
import { NgImageSink } from './ng-images.js';
import type { SectionReport, Sink } from './sink.js';

type NgConfig = Config['sinks']['ngImages'];

/**
 * `sinks.ngImages` as a {@link Sink}: owns the NG-image sink in force and replaces it on a change
 * (enabled remotely, another folder, ring size, quality). The new one is built and its folder made
 * and checked writable before the old one stops taking frames; a folder that cannot be used is a
 * refusal and the running sink stays. Heatmap colours follow the model in force (`mapRange`).
 */
export class NgImagesOwner implements Sink {
  readonly section = 'sinks.ngImages';
  private current: NgImageSink | null = null;
  private sub: Subscription | null = null;

  private constructor(
    private readonly judged$: Observable<JudgedFrame>,
    private readonly mapRange: () => { readonly min: number; readonly max: number },
  ) {}

  /** Throws when `cfg` is enabled and its folder cannot be used (a start-up configuration is refused whole). */
  static async create(cfg: NgConfig, judged$: Observable<JudgedFrame>, mapRange: () => { min: number; max: number }): Promise<NgImagesOwner> {
    const owner = new NgImagesOwner(judged$, mapRange);
    owner.swap(await owner.build(cfg));
    return owner;
  }

  /** Written and skipped images of the sink in force (zeros when disabled). */
  stats(): { written: number; skipped: number } {
    return this.current?.stats() ?? { written: 0, skipped: 0 };
  }

  async reconfigure(next: Config, paths: readonly string[]): Promise<SectionReport[]> {
    let fresh: NgImageSink | null;
    try {
      fresh = await this.build(next.sinks.ngImages);
    } catch (err) {
      return [{ section: this.section, outcome: 'refused', paths, reason: `sinks.ngImages.dir ${next.sinks.ngImages.dir}: ${errorMessage(err)}` }];
    }
    const old = this.swap(fresh);
    await old?.flush();
    return [{ section: this.section, outcome: 'applied', paths }];
  }

  async close(): Promise<void> {
    await this.swap(null)?.flush();
  }

  private async build(cfg: NgConfig): Promise<NgImageSink | null> {
    if (!cfg.enabled) return null;
    const sink = new NgImageSink({ dir: cfg.dir, maxFrames: cfg.maxFrames, quality: cfg.quality, mapMin: 0, mapMax: 1, mapRange: this.mapRange });
    await sink.whenReady();
    return sink;
  }

  /** The new sink takes frames from the next one on; returns the old one (still finishing its writes). */
  private swap(next: NgImageSink | null): NgImageSink | null {
    const old = this.current;
    this.sub?.unsubscribe();
    this.sub = null;
    this.current = next;
    // Subscribed only while enabled: with no subscriber the station copies no maps for it.
    if (next !== null) this.sub = this.judged$.subscribe((j) => next.offer(j));
    return old;
  }
}
