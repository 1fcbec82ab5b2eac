import { createRequire } from 'node:module';
import { LinewatchError } from '../../../errors.js';
import { useOwnPlugins } from './own-elements.js';

/**
 * Typed view of gstreamer-superficial (a CommonJS addon without types), limited to what the
 * source uses. Each `pull` and `pollBus` holds a libuv pool thread while it waits (see
 * src/util/threadpool.ts).
 */

/** Caps of a pulled sample, flattened by the binding (fractions come as strings, e.g. '25/1'). */
export interface SampleCaps {
  readonly name?: string;
  readonly format?: string;
  readonly width?: number;
  readonly height?: number;
  readonly [field: string]: unknown;
}

/** A bus message; `message` is set for errors and warnings. */
export interface BusMessage {
  readonly type: string;
  readonly message?: string;
  readonly name?: string;
  readonly _src_element_name?: string;
  readonly [field: string]: unknown;
}

/** GstBufferFlags bits linewatch reads. */
export const BUFFER_FLAG_DISCONT = 1 << 6;

/** One GstReferenceTimestampMeta of a buffer (e.g. `timestamp/x-ntp` from rtspsrc). */
export interface ReferenceTimestamp {
  /** The reference's caps name: which clock the timestamp is on. */
  readonly reference: string;
  readonly timestamp: bigint | null;
  readonly duration: bigint | null;
}

/**
 * What linewatch's patch of the binding (patches/gstreamer-superficial+1.7.4.patch) passes with
 * each pulled sample: the buffer's own fields (times in ns, null when GStreamer left them unset),
 * its running time from the sample's segment, the appsink's base time, and one reading of the
 * pipeline clock taken beside the host's CLOCK_MONOTONIC and CLOCK_REALTIME, to map clock time to them.
 */
export interface SampleMeta {
  readonly pts: bigint | null;
  readonly dts: bigint | null;
  readonly duration: bigint | null;
  /** Frame number for video (GStreamer's convention), or whatever the element put there; null when unset. */
  readonly offset: number | null;
  readonly offsetEnd: number | null;
  /** GstBufferFlags (DISCONT = {@link BUFFER_FLAG_DISCONT}, …). */
  readonly flags: number;
  /** Number of this buffer among those that reached the appsink (from 1, for the appsink's life); null if not numbered. */
  readonly arrival: number | null;
  readonly runningTime: bigint | null;
  readonly baseTime: bigint | null;
  /** Pipeline clock, host monotonic and host real-time clocks read together when the sample was handed over (absent without a clock). */
  readonly clockTime?: bigint | null;
  readonly hostMonoTime?: bigint | null;
  readonly hostRealTime?: bigint | null;
  readonly references: readonly ReferenceTimestamp[];
}

/** Fields the patched appsrc `push` sets on the buffer it makes (tests feed offsets, gaps and flags this way). */
export interface PushMeta {
  readonly pts?: bigint | number;
  readonly dts?: bigint | number;
  readonly duration?: bigint | number;
  readonly offset?: number;
  readonly offsetEnd?: number;
  readonly flags?: number;
}

export interface GstAppSink {
  /**
   * Calls back once with the next sample, or with null at end of stream or when stopped. From
   * patch 3 the Buffer owns its bytes until GC collects it ({@link HeldFrames}); its ArrayBuffer
   * is untransferable (Node's external memory): post it to a worker by cloning, not in a transfer
   * list (Node 20 ignores it there, Node 24 throws DataCloneError).
   */
  pull(cb: (buf: Buffer | null, caps: SampleCaps, meta: SampleMeta | null) => void): void;
  /** Buffers that reached this appsink so far (the last {@link SampleMeta.arrival} given). */
  arrivals(): number;
  caps?: string;
  [property: string]: unknown;
}

export interface GstPipeline {
  play(): void;
  stop(): void;
  pause(): void;
  sendEOS(): void;
  findChild(name: string): GstAppSink | undefined;
  /**
   * Whether the bus drops its pending messages when the pipeline goes to NULL (GStreamer default
   * true). Reaches GStreamer on every Node line from patch 2 on (before it, Node 24 only shadowed it).
   */
  'auto-flush-bus': boolean;
  /**
   * Calls back for every bus message until the pipeline is back in NULL. Only call after play().
   * Waits on a libuv pool thread; from patch 2 on, a poll that finds the bus empty and the
   * pipeline settled in NULL ends without calling back (within 100 ms), so a stopped pipeline
   * never leaves one waiting.
   */
  pollBus(cb: (msg: BusMessage) => void): void;
}

export interface GstAppSrc {
  push(data: Buffer, pts?: Buffer, meta?: PushMeta): void;
  [property: string]: unknown;
}

/**
 * Frames the binding has handed to Node that are not yet collected (patch 3). A pulled frame's
 * Buffer owns its bytes: GStreamer's own buffer, kept referenced and mapped (`wrapped`: from a pool
 * that grows on demand), or a copy made on the pull's pool thread (`copied`: any other buffer,
 * which its source may need back). Either is released when GC collects the Buffer.
 */
export interface HeldFrames {
  /** Frame Buffers alive in Node now, and their bytes. */
  readonly frames: number;
  readonly bytes: number;
  /** Frames handed over by each path since the addon loaded. */
  readonly wrapped: number;
  readonly copied: number;
}

interface Binding {
  Pipeline: new (description: string) => GstPipeline;
  /** Version of linewatch's patch compiled into the addon; undefined when it was built unpatched. */
  linewatchPatch?: number;
  /** From patch 3 on. */
  linewatchHeld?: () => HeldFrames;
}

/**
 * The patch version this code reads (patches/gstreamer-superficial+1.7.4.patch): 1, sample
 * timing, flags and arrival numbers; 2, `auto-flush-bus` that reaches GStreamer on Node 24 and a
 * bus poll that ends once its pipeline is stopped (without both, a stopped pipeline could leave a
 * poll waiting for ever on Node 24, and `linewatch run` never exited); 3, pulled frames handed
 * over without a copy on the main thread ({@link HeldFrames}; upstream's copy cost ~10 ms per
 * 5 MP RGB frame there, mostly faulting in fresh pages).
 */
export const BINDING_PATCH_VERSION = 3;

let binding: Binding | null = null;

/**
 * The addon, loaded on first use so that configurations without cameras never load GStreamer.
 * Throws LW_ERR_BINDING when it was built without linewatch's patch: capture times and lost-frame
 * identities would silently be missing.
 */
export function gstreamer(): Binding {
  if (binding === null) {
    // Before gst_init (the addon's load): GStreamer reads GST_PLUGIN_PATH once, then.
    useOwnPlugins();
    const require = createRequire(import.meta.url);
    const loaded = require('gstreamer-superficial') as Binding;
    if ((loaded.linewatchPatch ?? 0) < BINDING_PATCH_VERSION) {
      throw new LinewatchError(
        'LW_ERR_BINDING',
        `gstreamer-superficial was built without linewatch's patch ${BINDING_PATCH_VERSION} (found ${loaded.linewatchPatch ?? 'none'}): ` +
          'run `npm ci` (its postinstall applies patches/ to a fresh copy and rebuilds the addon)',
      );
    }
    binding = loaded;
  }
  return binding;
}

