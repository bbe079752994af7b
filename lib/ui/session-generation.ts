import type { SqlDriver } from '../db/driver.ts';

/**
 * The dashboard's session generation, in the database every instance shares (table
 * `dashboard_session_generation`, lib/db/schema.ts). Each session cookie is signed with the
 * generation it was issued in (session.ts) and is honoured only while that generation is
 * current, so a logout, which raises it, ends the session on every process and function at
 * once, with nothing stored per session that could be lost or grow.
 *
 * The price: a logout ends every dashboard session, not only the browser's own. There is one
 * identity behind them all (whoever holds API_TOKEN), so there is no "other user" to spare;
 * someone logged in elsewhere logs in again. Each request reads the one row by its key:
 * nothing is cached, so a logout holds from the very next request on every instance.
 */
export class SessionGeneration {
  readonly #driver: SqlDriver;

  constructor(driver: SqlDriver) {
    this.#driver = driver;
  }

  /** The current generation (0 before the first logout). */
  async current(): Promise<number> {
    const rows = await this.#driver.all('SELECT generation FROM dashboard_session_generation WHERE one = 1');
    return rows[0] ? Number(rows[0].generation) : 0;
  }

  /** Ends every session issued so far; returns the new generation. */
  async advance(): Promise<number> {
    const rows = await this.#driver.all(
      'INSERT INTO dashboard_session_generation (one, generation) VALUES (1, 1) ON CONFLICT (one) DO UPDATE SET generation = generation + 1 RETURNING generation',
    );
    return Number(rows[0]!.generation);
  }
}
