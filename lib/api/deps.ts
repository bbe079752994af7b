import type { Config } from '../config/config.ts';
import type { Logger } from '../foundation/log.ts';
import type { HandlerRegistry } from '../processing/handlers.ts';
import type { RateLimiter } from '../rate-limit/limiter.ts';
import type { TaskService } from '../tasks/service.ts';
import type { ClientAddress } from './client-identity.ts';

/** What the HTTP app and its routes are built from (lib/wiring/app-services.ts wires it). */
export interface AppDeps {
  service: TaskService;
  handlers: HandlerRegistry;
  config: Config;
  logger: Logger;
  /**
   * Rate limiter; when absent one is built from config (Upstash REST or memory;
   * RATE_LIMIT_PER_MINUTE=0 means none). local/ passes its ioredis one for REDIS_URL.
   */
  rateLimiter?: RateLimiter;
  /** The peer address (Node socket, `cf-connecting-ip` on Workers): the rate-limit identity. */
  clientAddress?: ClientAddress;
  /** Schedules and paused ones, for /stats (lib/schedules/; its routes are registered by lib/wiring/app-services.ts). */
  scheduleCounts?: () => Promise<{ total: number; paused: number }>;
}
