import type { BuildOptions, Metafile } from 'esbuild';

export type TargetName = 'node' | 'workers' | 'workers-dashboard' | 'vercel' | 'lambda' | 'netlify';

export interface BuiltFile {
  target: TargetName;
  path: string;
  bytes: number;
  gzipBytes: number;
}

export const TARGETS: Record<TargetName, { options: BuildOptions & { outdir?: string }; extras?(outdir: string): void }>;

export function build(options?: { outdir?: string; targets?: TargetName[]; log?: boolean }): Promise<{
  files: BuiltFile[];
  metafiles: Partial<Record<TargetName, Metafile>>;
}>;

export function buildWorkersEntry(options: { entry: string; outdir: string }): Promise<string>;
