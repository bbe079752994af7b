/** How the dashboard writes numbers and times: UTC, ISO-like, the same on every runtime. */

export const MINUTE_MS = 60_000;

/** 1234567 → "1,234,567" (no Intl: identical output everywhere). */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** `2026-11-30 11:52:03Z`; with milliseconds when `precise`. */
export function formatTime(ms: number | null, precise = false): string {
  if (ms === null) return '—';
  const iso = new Date(ms).toISOString().replace('T', ' ');
  return precise ? iso : iso.replace(/\.\d{3}Z$/, 'Z');
}

/** A duration in words: "850 ms", "12.5 s", "3 min 12 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 60_000) return `${(abs / 1000).toFixed(abs < 10_000 ? 2 : 1)} s`;
  const s = Math.floor(abs / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** "3 min 12 s ago" / "in 5 s". */
export function relative(ms: number | null, now: number): string {
  if (ms === null) return '';
  return ms <= now ? `${formatDuration(now - ms)} ago` : `in ${formatDuration(ms - now)}`;
}

/** A JSON value (stored as JSON text or already parsed) indented for reading. */
export function prettyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  return JSON.stringify(value, null, 2);
}

/** A time of day when it is today (UTC), `14:05:03Z`; the full `formatTime` otherwise. */
export function formatClock(ms: number, now: number): string {
  const full = formatTime(ms);
  return full.slice(0, 10) === formatTime(now).slice(0, 10) ? full.slice(11) : full;
}

/** 512 → "512 B", 2048 → "2.0 KB", 3 × 2²⁰ → "3.0 MB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
