import { badRequest } from '../foundation/errors.ts';
import { formatTaskId, parseTaskId } from '../tasks/ids.ts';

/**
 * List cursors: the last task id of a page, base64url-encoded so clients treat it as opaque.
 * Ids are time-ordered, so "ids below the cursor" is the next page of a newest-first list.
 */
export const encodeCursor = (id: number): string => btoa(formatTaskId(id)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/** The task id inside a cursor; 400 `cursor is invalid` for anything this did not encode. */
export function decodeCursor(cursor: string): number {
  try {
    const id = parseTaskId(atob(cursor.replace(/-/g, '+').replace(/_/g, '/')));
    if (id !== null) return id;
  } catch {
    // not base64: invalid like any other
  }
  throw badRequest('cursor is invalid', 'invalid_query');
}
