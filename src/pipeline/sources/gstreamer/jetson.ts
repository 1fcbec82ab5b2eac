import { execFileSync } from 'node:child_process';

/**
 * GStreamer elements for the Jetson's hardware (VIC for convert/scale, NVDEC and NVJPG for
 * decoding), with the software elements as the fallback everywhere else. Decided once, at
 * configuration time, from what `gst-inspect-1.0` finds; the presets splice the fragments into
 * their launch descriptions.
 *
 * Hardware decoders write into NVMM (device) memory that only nvvidconv reads, so hardware
 * decoding is used only together with nvvidconv: the plan is all-Jetson or all-software.
 */

/** Elements worth probing; {@link probeGstElements} reports which of them this machine has. */
export const GST_PROBE_ELEMENTS = ['nvvidconv', 'nvv4l2decoder', 'nvjpegdec', 'avdec_h264', 'avdec_h265'] as const;

export type CompressedCodec = 'h264' | 'h265' | 'jpeg';

/** What the model side wants at the appsink (as the presets' `format`, `width`, `height`). */
export interface RawTarget {
  readonly format: 'GRAY8' | 'RGB' | 'BGR';
  readonly width?: number;
  readonly height?: number;
}

export type GstElementPlan =
  | { readonly acceleration: 'jetson'; readonly jpegDecoder: 'nvjpegdec' | 'jpegdec' }
  | { readonly acceleration: 'software'; readonly h264Decoder: 'avdec_h264' | null; readonly h265Decoder: 'avdec_h265' | null };

/**
 * Chooses hardware or software elements from the set of available element names.
 *
 * @example
 * planGstElements(new Set(['nvvidconv', 'nvv4l2decoder', 'nvjpegdec'])) // { acceleration: 'jetson', jpegDecoder: 'nvjpegdec' }
 * planGstElements(new Set(['avdec_h264']))                               // software, h264 via avdec_h264
 */
export function planGstElements(available: ReadonlySet<string>): GstElementPlan {
  if (available.has('nvvidconv') && available.has('nvv4l2decoder')) {
    return { acceleration: 'jetson', jpegDecoder: available.has('nvjpegdec') ? 'nvjpegdec' : 'jpegdec' };
  }
  return {
    acceleration: 'software',
    h264Decoder: available.has('avdec_h264') ? 'avdec_h264' : null,
    h265Decoder: available.has('avdec_h265') ? 'avdec_h265' : null,
  };
}

/** The plan where no Jetson element is present and gst-libav is not assumed (what the presets used before probing). */
export const SOFTWARE_PLAN: GstElementPlan = { acceleration: 'software', h264Decoder: null, h265Decoder: null };

/**
 * Elements that turn a parsed-or-not compressed stream into raw video that {@link convertFragment}
 * accepts (NVMM on a Jetson, system memory otherwise).
 *
 * @example
 * decodeFragment(jetsonPlan, 'h264') // 'h264parse ! nvv4l2decoder'
 */
export function decodeFragment(plan: GstElementPlan, codec: CompressedCodec): string {
  if (plan.acceleration === 'jetson') {
    if (codec === 'jpeg') return plan.jpegDecoder;
    return `${codec}parse ! nvv4l2decoder`;
  }
  if (codec === 'jpeg') return 'jpegdec';
  const dec = codec === 'h264' ? plan.h264Decoder : plan.h265Decoder;
  // Without gst-libav, decodebin finds whatever decoder is installed.
  return dec === null ? 'decodebin' : `${codec}parse ! ${dec}`;
}

function sizeCaps(t: RawTarget): string {
  return `${t.width !== undefined ? `,width=${t.width}` : ''}${t.height !== undefined ? `,height=${t.height}` : ''}`;
}

/**
 * What reaches the converter: `decoded` = a hardware decoder's or decodebin's output, which may be
 * NVMM (device) memory that only nvvidconv reads, in a format nvvidconv takes (NV12, I420, P010);
 * `raw` = system-memory video from a camera, a file or a software decoder, in whatever format it
 * comes (RGB, Bayer-demosaiced RGBx, YUY2, GRAY16, …).
 */
export type ConverterInput = 'decoded' | 'raw';

/**
 * The system-memory formats nvvidconv takes on its sink pad on L4T r36 (JetPack 6), as its pad
 * template publishes them (test/pipeline/sources/gstreamer/fixtures/nvvidconv-r36.caps). No packed
 * 24-bit RGB/BGR and no Bayer: those go through a software videoconvert first.
 */
export const NVVIDCONV_SYSTEM_INPUT_FORMATS = [
  'GRAY8', 'I420', 'NV12', 'NV16', 'NV24', 'YUY2', 'UYVY', 'YVYU', 'Y42B', 'Y444', 'P010_10LE', 'RGBA', 'BGRx',
] as const;

/**
 * nvvidconv's `interpolation-method` for scaling: 1 = Bilinear (its default, 0, is Nearest). Model
 * bundles resize bilinearly by default (manifest `geometry.resize.method`); nearest-neighbour
 * scaling in front of that would alias fine texture the model never saw. (PIL's bilinear also
 * antialiases when shrinking; the VIC's does not, so a large shrink still differs a little.)
 */
export const NVVIDCONV_BILINEAR = 1;

/** The JPEG decode of a plan writes what: nvjpegdec may write NVMM, jpegdec writes system memory. */
export function jpegConverterInput(plan: GstElementPlan): ConverterInput {
  return plan.acceleration === 'jetson' && plan.jpegDecoder === 'nvjpegdec' ? 'decoded' : 'raw';
}

/**
 * Convert and scale to the target in system memory, ready for the appsink; null target = any raw
 * format (still copied out of NVMM on a Jetson). On a Jetson nvvidconv (VIC) scales, bilinear, and
 * converts: raw input first passes a videoconvert that lets nvvidconv's own formats through
 * untouched and converts the others (RGB8 cameras, PNG files) to the nearest one it takes;
 * nvvidconv has no packed 24-bit output either, so RGB/BGR targets leave it as RGBA/BGRx and a
 * videoconvert drops the fourth byte.
 *
 * @example
 * convertFragment(jetsonPlan, { format: 'RGB', width: 448, height: 448 }, 'decoded')
 * // 'nvvidconv interpolation-method=1 ! video/x-raw,format=RGBA,width=448,height=448 ! videoconvert ! video/x-raw,format=RGB'
 */
export function convertFragment(plan: GstElementPlan, target: RawTarget | null, input: ConverterInput = 'raw'): string {
  if (plan.acceleration === 'jetson') {
    const guard = input === 'raw' ? `videoconvert ! video/x-raw,format={${NVVIDCONV_SYSTEM_INPUT_FORMATS.join(',')}} ! ` : '';
    const vic = `${guard}nvvidconv interpolation-method=${NVVIDCONV_BILINEAR}`;
    if (target === null) return `${vic} ! video/x-raw`;
    const size = sizeCaps(target);
    switch (target.format) {
      case 'GRAY8':
        return `${vic} ! video/x-raw,format=GRAY8${size}`;
      case 'RGB':
        return `${vic} ! video/x-raw,format=RGBA${size} ! videoconvert ! video/x-raw,format=RGB`;
      case 'BGR':
        return `${vic} ! video/x-raw,format=BGRx${size} ! videoconvert ! video/x-raw,format=BGR`;
    }
  }
  if (target === null) return 'videoconvert';
  const scale = target.width !== undefined || target.height !== undefined ? 'videoscale ! ' : '';
  return `videoconvert ! ${scale}video/x-raw,format=${target.format}${sizeCaps(target)}`;
}

/**
 * Which of `names` this machine's GStreamer has (`gst-inspect-1.0 --exists`, one short call each).
 * A missing gst-inspect-1.0 counts as "none found": the software plan then applies. Synchronous:
 * it runs once, at configuration time, when sources are built and validated synchronously.
 */
export function probeGstElements(names: readonly string[] = GST_PROBE_ELEMENTS, timeoutMs = 5000): Set<string> {
  const found = new Set<string>();
  for (const name of names) {
    try {
      // --atleast-version=0.0.0: `--exists` alone also asks for a plugin version at least
      // GStreamer's own (1.22 here), which a plugin versioned on its own fails (aravis, 0.8; NVIDIA's may).
      execFileSync('gst-inspect-1.0', ['--exists', '--atleast-version=0.0.0', name], { timeout: timeoutMs, stdio: 'ignore' });
      found.add(name);
    } catch {
      // Not installed (or no gst-inspect-1.0 at all): the software element stands in.
    }
  }
  return found;
}

let localPlan: GstElementPlan | undefined;

/** This machine's plan, probed once per process (a few short calls at configuration time, never per frame). */
export function localElementPlan(timeoutMs = 5000): GstElementPlan {
  if (localPlan === undefined) localPlan = planGstElements(probeGstElements(GST_PROBE_ELEMENTS, timeoutMs));
  return localPlan;
}
