import { v7 } from 'uuid';

/**
 * Task ids: UUIDv7, time-ordered and strictly increasing within a process, made exactly as
 * the uuid package's `v7()` makes them (a 31-bit counter seeded from random bits at each new
 * millisecond, +1 within the same millisecond; the millisecond moves on if it wraps), but with
 * the random bytes taken from a pool filled 256 ids at a time. `v7()` without options calls
 * `crypto.getRandomValues` for 16 bytes on every id, which on Node is a trip into OpenSSL
 * (`RAND_bytes`, a `getpid` syscall): ~9 µs of a ~120 µs submit, and the largest JavaScript
 * cost of `POST /tasks` after the commit (bench/README.md, change 6).
 * The bytes are the same CSPRNG output, only fetched in bulk. Edge-safe: Web Crypto only.
 */
const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = POOL_IDS;
let lastMs = -Infinity;
let seq = 0;

export function newTaskId(now: number = Date.now()): string {
  if (next === POOL_IDS) {
    crypto.getRandomValues(pool);
    next = 0;
  }
  const random = pool.subarray(next * 16, ++next * 16);
  if (now > lastMs) {
    lastMs = now;
    seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `value` has the shape of a task id (a lower-case UUID): for cursors and links. */
export function isTaskId(value: string): boolean {
  return UUID_SHAPE.test(value);
}
