/**
 * Which part of the web a segment belongs to. Parts start at positions along the web (mm): where
 * a PLC trigger said a new part is under the camera (the first line of the buffer its trigger was
 * paired with), or every `pitchMm` from the web's zero. A segment takes the part its middle lies
 * in, so a segment length equal to the part pitch gives one segment per part even when the two
 * are not aligned to the line. Pure.
 */

/** Parts kept at most: positions asked for are just behind the newest buffer. */
const MAX_PARTS = 64;

export class PartMap {
  private readonly starts: number[] = [];
  private readonly ids: string[] = [];

  /**
   * Part `partId` runs from `startMm` on (until the next part starts). A buffer naming the part
   * that already runs adds nothing; a start behind the last one (a trigger out of order) is ignored.
   */
  add(startMm: number, partId: string): void {
    const n = this.ids.length;
    if (n > 0 && (this.ids[n - 1] === partId || startMm < this.starts[n - 1]!)) return;
    this.starts.push(startMm);
    this.ids.push(partId);
    if (this.ids.length > MAX_PARTS) {
      this.starts.splice(0, MAX_PARTS / 2);
      this.ids.splice(0, MAX_PARTS / 2);
    }
  }

  /** The part that runs at `mm`, or undefined before the first part started. */
  at(mm: number): string | undefined {
    for (let i = this.starts.length - 1; i >= 0; i--) if (this.starts[i]! <= mm) return this.ids[i];
    return undefined;
  }
}

/**
 * The part at `mm` with parts every `pitchMm` from the web's zero, numbered from `first`:
 * `${prefix}${first + floor(mm / pitchMm)}`.
 *
 * @example
 * pitchPartId(150, { pitchMm: 100, prefix: 'R-', first: 1 }) // 'R-2'
 */
export function pitchPartId(mm: number, o: { readonly pitchMm: number; readonly prefix: string; readonly first: number }): string {
  return `${o.prefix}${o.first + Math.floor(mm / o.pitchMm)}`;
}
