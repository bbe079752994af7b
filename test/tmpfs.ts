import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireService } from './helpers.ts';

/**
 * A real, small filesystem for disk-full tests: `mount -t tmpfs -o size=…` on a fresh temp
 * dir (needs root: these machines and CI run tests as root). SQLite on it fills up for real
 * and answers SQLITE_FULL. `unmount` is lazy (`umount -l`), so a process still holding a file
 * open cannot keep the mount alive.
 */
export interface Tmpfs {
  dir: string;
  unmount(): void;
}

export function mountTmpfs(sizeBytes: number): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'task-pool-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' });
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      mounted = false;
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether this machine lets the test mount a tmpfs (skips locally, fails in CI). */
export function tmpfsAvailable(): Promise<boolean> {
  return requireService('tmpfs mount (root)', async () => mountTmpfs(64 * 1024).unmount());
}
