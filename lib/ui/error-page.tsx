/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Config } from '../config/config.ts';
import { AppError } from '../foundation/errors.ts';
import type { Logger } from '../foundation/log.ts';
import { pageContext, type DashboardEnv } from './context.ts';
import { MessagePage } from './pages/message.tsx';

/**
 * Every dashboard error as a page, never the API's JSON: what happened and where to go. A
 * 5xx shows no details (the log has them). Without a session (API_TOKEN set, not logged in)
 * the page shows no navigation.
 */
const TITLES: Partial<Record<number, string>> = { 401: 'Log in needed', 403: 'Refused', 404: 'Not found', 429: 'Too many requests' };

const tooMany = (retryAfter: string | undefined) =>
  `Too many page views from your address in the last minute. Please wait and try again in ${retryAfter ?? 'a few'} s.`;

export function dashboardErrorPage(options: { config: Config; logger: Logger; sessions: boolean }): ErrorHandler<DashboardEnv> {
  const { config, logger, sessions } = options;
  return (error, c) => {
    const status = (error instanceof HTTPException ? error.status : 500) as ContentfulStatusCode;
    if (status >= 500) logger.error('dashboard error', { path: c.req.path, error, stack: error instanceof Error ? error.stack : undefined });
    const message =
      status >= 500 ? 'Something went wrong; the server log has the details.'
      : status === 403 && !(error instanceof AppError) ? 'Cross-site form posts are refused: this form did not come from this dashboard.'
      : error.message;
    const title = TITLES[status] ?? (status >= 500 ? 'Error' : 'Cannot do that');
    const page = sessions && !c.get('session') ? null : pageContext(c, config);
    // Retry-After and RateLimit-* of a 429, and the like.
    const headers = error instanceof AppError ? error.headers : {};
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    const text = status === 429 ? tooMany(headers['Retry-After']) : message;
    return c.html(<MessagePage title={title} message={text} page={page} status={status} />, status);
  };
}
