import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../lib/api/cursor.ts';
import { AppError } from '../lib/foundation/errors.ts';
import { formatTaskId, idFloor } from '../lib/tasks/ids.ts';

/** List cursors (lib/api/cursor.ts): opaque base64url of a task id; anything else is a 400. */

function expectInvalid(cursor: string): void {
  let thrown: unknown;
  try {
    decodeCursor(cursor);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `cursor ${JSON.stringify(cursor)}`).toBeInstanceOf(AppError);
  const error = thrown as AppError;
  expect(error.status).toBe(400);
  expect(error.code).toBe('invalid_query');
  expect(error.message).toBe('cursor is invalid');
}

describe('cursors', () => {
  it('round-trip task ids, base64url without padding', () => {
    for (const id of [0, 1, idFloor(Date.now()) + 17, Number.MAX_SAFE_INTEGER]) {
      const cursor = encodeCursor(id);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor)).toBe(id);
    }
  });

  it('rejects what is not base64 with 400 invalid_query', () => {
    for (const cursor of ['!!!', 'abc$', '%%%%', 'a']) expectInvalid(cursor);
  });

  it('rejects valid base64 of something that is not a task id', () => {
    const b64url = (text: string) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    const id = formatTaskId(idFloor(Date.now()) + 17);
    // Not 16 digits, beyond 2^53, an id from before the rowid migration (a list cursor never held one for long).
    for (const text of ['hello', '', '1 OR 1=1', `${id}0`, id.slice(1), ` ${id.slice(1)}`, '9999999999999999', '01890a5d-ac96-774b-bcce-b302099a8057']) expectInvalid(b64url(text));
    // The id itself, not encoded, is not a cursor either.
    expectInvalid(id);
  });
});
