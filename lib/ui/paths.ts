/**
 * The paths the dashboard serves when mounted: `/` (a redirect to /ui), `/favicon.ico` and
 * everything under /ui (`registerDashboard.owns`). The API's rate limit leaves them out
 * (lib/wiring/ passes it to lib/api/access-control.ts): the dashboard counts its pages itself
 * (page-limit.ts) and never its assets.
 */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/favicon.ico' || path === '/ui' || path.startsWith('/ui/');
}
