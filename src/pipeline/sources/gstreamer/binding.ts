import { createRequire } from 'node:module';

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

export interface GstAppSink {
  /** Calls back once with the next sample, or with null at end of stream or when stopped. */
  pull(cb: (buf: Buffer | null, caps: SampleCaps) => void): void;
  /** Base sink statistics as GStreamer prints a GstStructure (rendered, dropped, average-rate). */
  readonly stats?: string;
  caps?: string;
  [property: string]: unknown;
}

export interface GstPipeline {
  play(): void;
  stop(): void;
  pause(): void;
  sendEOS(): void;
  findChild(name: string): GstAppSink | undefined;
  /** Whether the bus drops its pending messages when the pipeline goes to NULL (GStreamer default true). */
  'auto-flush-bus': boolean;
  /** Calls back for every bus message until the pipeline is back in NULL. Only call after play(). */
  pollBus(cb: (msg: BusMessage) => void): void;
}

interface Binding {
  Pipeline: new (description: string) => GstPipeline;
}

let binding: Binding | null = null;

/** The addon, loaded on first use so that configurations without cameras never load GStreamer. */
export function gstreamer(): Binding {
  if (binding === null) {
    const require = createRequire(import.meta.url);
    binding = require('gstreamer-superficial') as Binding;
  }
  return binding;
}

/**
 * Buffers that reached the appsink's queue, from its base-sink `stats` string
 * (`application/x-gst-base-sink-stats, average-rate=(double)-1, dropped=(guint64)0, rendered=(guint64)50;`).
 * Returns -1 when the field is missing (an older GStreamer).
 */
export function parseRendered(stats: string | undefined): number {
  if (stats === undefined) return -1;
  const m = /rendered=\(guint64\)(\d+)/.exec(stats);
  return m === null ? -1 : Number(m[1]);
}
