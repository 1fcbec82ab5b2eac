export interface BenchOptions { modelDir: string; frames: number; batch: number; intraOpThreads?: number }
export type BenchReport = Record<string, number | string>;
export async function runPipelineBench(_o: BenchOptions): Promise<BenchReport> {
  throw new Error('not yet');
}
export function formatBenchReport(r: BenchReport): string {
  return JSON.stringify(r);
}
