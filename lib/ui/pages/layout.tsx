/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { raw } from 'hono/html';
import type { Child, FC } from 'hono/jsx';
import { STATUSES } from '../../tasks/states.ts';
import { ASSET_VERSION } from '../assets.ts';

/** What every page knows about the request: who is looking and what they may do. */
export interface PageContext {
  /** Actions shown (false with DASHBOARD_READ_ONLY=true). */
  canAct: boolean;
  /** The session's CSRF token when logged in (API_TOKEN set); every form carries it. */
  csrfToken: string | null;
  /** A login session exists (shows "Log out"). */
  loggedIn: boolean;
  readOnly: boolean;
  now: number;
}

export type Section = 'overview' | 'tasks' | 'failed' | 'workflows' | 'runs' | 'schedules' | 'types' | 'none';

const NAV: [Section, string, string][] = [
  ['overview', 'Overview', '/ui'],
  ['tasks', 'Tasks', '/ui/tasks'],
  ['failed', 'Failed', '/ui/failed'],
  ['workflows', 'Workflows', '/ui/workflows'],
  ['runs', 'Runs', '/ui/runs'],
  ['schedules', 'Schedules', '/ui/schedules'],
  ['types', 'Types', '/ui/types'],
];

export const Layout: FC<{ title: string; section: Section; page: PageContext | null; children?: Child }> = ({ title, section, page, children }) => (
  <>
  {raw('<!DOCTYPE html>')}
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{title} · task-pool</title>
      <link rel="stylesheet" href={`/ui/assets/style.css?v=${ASSET_VERSION}`} />
      <link rel="icon" href={`/ui/assets/icon.svg?v=${ASSET_VERSION}`} type="image/svg+xml" />
      <script src={`/ui/assets/app.js?v=${ASSET_VERSION}`} defer></script>
    </head>
    <body>
      <header>
        <span class="brand">task-pool</span>
        <nav>
          {page
            ? NAV.map(([id, label, href]) => (
                <a href={href} aria-current={id === section ? 'page' : undefined}>
                  {label}
                </a>
              ))
            : null}
        </nav>
        {page?.readOnly ? <span class="badge ro">read-only</span> : null}
        {page?.loggedIn ? (
          <form method="post" action="/ui/logout">
            <CsrfField page={page} />
            <button type="submit">Log out</button>
          </form>
        ) : null}
      </header>
      <main>{children}</main>
    </body>
  </html>
  </>
);

/** The hidden CSRF field of a form (nothing when there is no session). */
export const CsrfField: FC<{ page: PageContext }> = ({ page }) =>
  page.csrfToken ? <input type="hidden" name="_csrf" value={page.csrfToken} /> : null;

export const StatusBadge: FC<{ status: string }> = ({ status }) => <span class={`status s-${status}`}>{status.replace('_', ' ')}</span>;

/** The status filter of a list page: any, or one of the task statuses (runs share them). */
export const StatusFilter = ({ value }: { value: string | undefined }) => (
  <label>
    status
    <select name="status">
      <option value="">any</option>
      {STATUSES.map((s) => (
        <option value={s} selected={value === s}>{s.replace('_', ' ')}</option>
      ))}
    </select>
  </label>
);
