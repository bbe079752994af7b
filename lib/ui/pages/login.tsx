/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import { Layout } from './layout.tsx';

/** `waitSeconds`: too many failed log-ins from this address; the form works again after that. */
export const LoginPage: FC<{ next: string; failed: boolean; ended?: boolean; waitSeconds?: number }> = ({ next, failed, ended, waitSeconds }) => (
  <Layout title="Log in" section="none" page={null}>
    <div class="card login">
      <h1>Log in</h1>
      {ended ? (
        <div class="notice" id="notice">
          Logged out. Logging out ends every dashboard session, in every browser: they all log in with the one API token.
        </div>
      ) : null}
      <p class="muted">This dashboard is protected by the service's API token (API_TOKEN).</p>
      {failed ? <div class="error">That token is not valid.</div> : null}
      {waitSeconds !== undefined ? (
        <div class="error" data-status="429">
          Too many failed log-ins from your address. Try again in {waitSeconds} s; each further failure doubles the wait.
        </div>
      ) : null}
      <form method="post" action="/ui/login">
        <input type="hidden" name="next" value={next} />
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
        <button class="primary" type="submit">Log in</button>
      </form>
    </div>
  </Layout>
);
