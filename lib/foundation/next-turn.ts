/**
 * Runs `fn` on the next turn of the event loop, after this turn's I/O callbacks: requests and
 * wake-ups that arrived together are then handled together. `setImmediate` where the runtime
 * has it (Node); elsewhere `setTimeout(0)`, which on Node would add a 1 ms clamp.
 */
export const nextTurn: (fn: () => void) => void =
  typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
    ? (fn) => (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(fn)
    : (fn) => setTimeout(fn, 0);
