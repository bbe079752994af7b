import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type: 'major'; execution: 'async' }) => Promise<void> | void;

/**
 * A full garbage collection on the next turn, which lib/api/body-memory.ts asks for once large
 * request bodies have all been answered: V8 collects only when the process allocates, so an
 * idle server kept what one big batch left behind for as long as it stayed idle
 * (bench/README.md, "Batch memory"). `gc` is exposed to one fresh context, by the flag V8
 * reads when a context is created, and the flag is turned off again at once: the process gets
 * no `gc` global.
 */
export function garbageCollector(): () => void {
  const exposed = (globalThis as { gc?: Gc }).gc;
  let gc: Gc | undefined = exposed;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as Gc;
    setFlagsFromString('--no-expose-gc');
  }
  const collect = gc;
  return () => {
    setTimeout(() => void collect({ type: 'major', execution: 'async' }), 0);
  };
}
