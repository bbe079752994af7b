import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';

/**
 * The pattern of the route that answered (`/tasks/:id`), for metric labels: raw paths would
 * make one time series per task id. Middleware (method ALL) is skipped; a request no route
 * matched is `unmatched`, so scanners probing random paths add one series, not thousands.
 */
export function routePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i]!;
    if (route.method !== 'ALL') return route.path;
  }
  return 'unmatched';
}
