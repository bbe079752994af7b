import type { MiddlewareHandler } from 'hono';
import { AppError } from '../foundation/errors.ts';

/**
 * How many bytes of request bodies the app holds at once (MAX_BODY_MEMORY_BYTES), across all
 * requests. A body is counted from the moment it is read (its declared Content-Length up
 * front, or chunk by chunk when it is sent without one) until it is answered: what a body
 * costs is not only its bytes but what is parsed and built from them (the parsed value, the
 * tasks to insert, the reply written from them), and those live until then. A body that does
 * not fit is refused with 503 `server_busy` and `Retry-After`, before it is read when its
 * length is declared. Without this, concurrent large batches each took many times their size
 * and together could take the process (bench/README.md, "Batch memory").
 *
 * One body larger than the whole bound is still read when it is the only one held: the bound
 * limits how many bodies are held together, it does not make a body that MAX_BODY_BYTES
 * allows impossible to send.
 *
 * Giving the memory back: what a large body leaves behind is garbage that V8 collects only
 * when the process allocates again, so an idle server kept it after one big batch for as long
 * as it stayed idle (bench/README.md, "Batch memory"). `afterLargeBodies`, when the platform has one (local/
 * passes a full collection), is called once nothing is held any more after at least
 * LARGE_BODIES_BYTES were held at once.
 */
export interface BodyMemoryOptions {
  afterLargeBodies?: () => void;
}

/** Held at once, at least this much makes the garbage worth collecting when it is all answered. */
const LARGE_BODIES_BYTES = 8 * 1024 * 1024;

export class BodyMemory {
  readonly limit: number;
  readonly #afterLargeBodies: (() => void) | undefined;
  #held = 0;
  /** The most held at once since `afterLargeBodies` was last called. */
  #peak = 0;
  readonly #byRequest = new Map<Request, number>();
  /** Requests whose answer is still being written when their handler returns (`keepUntil`). */
  readonly #kept = new Set<Request>();

  constructor(limit: number, options: BodyMemoryOptions = {}) {
    this.limit = limit;
    this.#afterLargeBodies = options.afterLargeBodies;
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
    this.#peak = Math.max(this.#peak, this.#held);
  }

  /**
   * `request`'s body stays counted after its handler returned, until `done` settles: for an
   * answer written from what the body became (a streamed reply), after the handler returns.
   */
  keepUntil(request: Request, done: Promise<unknown>): void {
    if (!this.#byRequest.has(request)) return;
    this.#kept.add(request);
    const release = () => {
      this.#kept.delete(request);
      this.release(request);
    };
    done.then(release, release);
  }

  /** Gives back what `request` held. */
  release(request: Request): void {
    const own = this.#byRequest.get(request);
    if (own === undefined) return;
    this.#byRequest.delete(request);
    this.#held -= own;
    if (this.#held === 0 && this.#peak >= LARGE_BODIES_BYTES && this.#afterLargeBodies) {
      this.#peak = 0;
      this.#afterLargeBodies();
    }
  }

  /** Middleware: a request's body is given back once its handler has answered, or failed. */
  readonly releaseAfterAnswer: MiddlewareHandler = async (c, next) => {
    try {
      await next();
    } finally {
      if (!this.#kept.has(c.req.raw)) this.release(c.req.raw);
    }
  };
}
