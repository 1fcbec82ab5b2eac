import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinewatchError } from '../../../errors.js';

/**
 * linewatch's own GStreamer elements: compiled at install and test time by
 * scripts/build-gst-plugin.sh into build/gst/ (never committed as a binary), found by GStreamer
 * through GST_PLUGIN_PATH. Today one: `lwaravissrc`, an aravis camera source whose buffers carry
 * the camera's frame ids (element/lwaravissrc.c says why Debian's aravissrc is not enough).
 */

/** Where scripts/build-gst-plugin.sh puts the plugin (from dist/src/pipeline/sources/gstreamer/). */
export const OWN_PLUGIN_DIR = fileURLToPath(new URL('../../../../../build/gst/', import.meta.url));

/** The aravis source elements linewatch can run, its own first. */
export type AravisElement = 'lwaravissrc' | 'aravissrc';

/**
 * Puts the plugin folder on GST_PLUGIN_PATH of this process (and so of the children it starts,
 * gst-inspect-1.0 included). Must run before GStreamer initialises (the binding's first load):
 * GStreamer reads the variable once, at gst_init. Idempotent; nothing when the folder is missing.
 */
export function useOwnPlugins(env: NodeJS.ProcessEnv = process.env): void {
  if (!existsSync(OWN_PLUGIN_DIR)) return;
  const dir = OWN_PLUGIN_DIR.replace(/\/$/, '');
  const current = env['GST_PLUGIN_PATH'];
  const parts = current === undefined || current === '' ? [] : current.split(delimiter);
  if (parts.includes(dir) || parts.includes(OWN_PLUGIN_DIR)) return;
  env['GST_PLUGIN_PATH'] = [dir, ...parts].join(delimiter);
}

let aravis: AravisElement | undefined;

/**
 * The aravis element this machine has: `lwaravissrc` when it was built (frame ids, losses with
 * identity), else Debian's `aravissrc` (neither). Probed once per process with gst-inspect-1.0,
 * at configuration time, never per frame.
 */
export function localAravisElement(timeoutMs = 5000): AravisElement {
  if (aravis === undefined) {
    useOwnPlugins();
    try {
      // Not `--exists`: without --atleast-version it also asks for a plugin version at least
      // GStreamer's own (1.22 on Debian 12), which neither lwaravissrc (0.1.0) nor aravissrc has.
      execFileSync('gst-inspect-1.0', ['lwaravissrc'], { timeout: timeoutMs, stdio: 'ignore' });
      aravis = 'lwaravissrc';
    } catch {
      // Not built here (no compiler or libaravis-dev at install): the stock element, without frame ids.
      aravis = 'aravissrc';
    }
  }
  return aravis;
}

/**
 * The element an aravis camera runs on: the one the configuration names, else this machine's best.
 * Naming lwaravissrc where it was not built is refused (it would otherwise run without frame ids
 * while the configuration says it wants them).
 */
export function chooseAravisElement(asked: AravisElement | undefined, available: () => AravisElement = localAravisElement): AravisElement {
  if (asked === 'aravissrc') return asked;
  const here = available();
  if (asked === 'lwaravissrc' && here !== 'lwaravissrc') {
    throw new LinewatchError(
      'LW_ERR_SOURCE_OPEN',
      `gstreamer preset aravis: element lwaravissrc is not built here (no ${OWN_PLUGIN_DIR}libgstlwaravis.so that GStreamer loads): ` +
        'run `bash scripts/build-gst-plugin.sh` (needs libaravis-dev), or leave `element` out to use aravissrc without frame ids',
    );
  }
  return here;
}
