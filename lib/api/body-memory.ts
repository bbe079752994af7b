import type { MiddlewareHandler } from 'hono';
import { AppError } from '../foundation/errors.ts';

/**
 * How many bytes of request bodies the app holds at once (MAX_BODY_MEMORY_BYTES), across all
 * requests. A body is counted from the moment it is read (its declared Content-Length up
 * front, or chunk by chunk when it is sent without one) until it is answered: what a body
 * costs is not only its bytes but what is parsed and built from them (the parsed value, the
 * tasks to insert, the reply built from them), and those live until then. A body that does
 * not fit is refused with 503 `server_busy` and `Retry-After`, before it is read when its
 * length is declared. Without this, concurrent large batches each took many times their size
 * and together could take the process (bench/README.md, "Batch memory").
 *
 * One body larger than the whole bound is still read when it is the only one held: the bound
 * limits how many bodies are held together, it does not make a body that MAX_BODY_BYTES
 * allows impossible to send.
 */
export class BodyMemory {
  readonly limit: number;
  #held = 0;
  readonly #byRequest = new Map<Request, number>();

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now, by every request. */
  get held(): number {
    return this.#held;
  }

  /** Counts `bytes` more for `request`'s body, or throws 503 when they do not fit. */
  reserve(request: Request, bytes: number): void {
    const own = this.#byRequest.get(request) ?? 0;
    const others = this.#held - own;
    if (this.#held + bytes > this.limit && others > 0) {
      throw new AppError(503, 'server_busy', `too many request bodies are being handled at once (MAX_BODY_MEMORY_BYTES=${this.limit}); send it again shortly`, {
        'Retry-After': '1',
      });
    }
    this.#byRequest.set(request, own + bytes);
    this.#held += bytes;
  }

  /** Gives back what `request` held. */
  release(request: Request): void {
    const own = this.#byRequest.get(request);
    if (own === undefined) return;
    this.#byRequest.delete(request);
    this.#held -= own;
  }

  /** Middleware: a request's body is given back once its handler has answered, or failed. */
  readonly releaseAfterAnswer: MiddlewareHandler = async (c, next) => {
    try {
      await next();
    } finally {
      this.release(c.req.raw);
    }
  };
}
