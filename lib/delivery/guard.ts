import { bareHost } from '../foundation/ip.ts';
import { classifyAddress, type AddressKind } from './address.ts';

/**
 * The SSRF guard's policy: which destinations an `http` task may reach. By default only
 * public addresses; `HTTP_ALLOW_PRIVATE_NETWORKS=true` lifts it, `HTTP_ALLOWED_HOSTS` lets
 * named hosts through (exact names, or `*.example.com` for any subdomain).
 *
 * It is applied three times, all through this one object:
 * - at submit, to the literal host of `url`, `callback_url`, `failure_callback_url` (400);
 * - before every request and redirect hop, to the literal host (on every runtime);
 * - on Node, to every address a name resolves to, inside the connection's DNS lookup
 *   (local/http-transport.ts), so `localhost` or a name pointing at 169.254.169.254 is refused
 *   before any connection is made. Edge runtimes give code no DNS: there `localhost` names are
 *   refused by name and the platform blocks private ranges itself (docs/http-tasks.md, "SSRF guard").
 */
export interface GuardPolicy {
  allowPrivateNetworks: boolean;
  /** Lower-case names; `*.suffix` entries match any subdomain of suffix. */
  allowedHosts: readonly string[];
}

/** A destination the guard refused. Permanent: retrying reaches the same address. */
export class DestinationRefused extends Error {
  readonly code = 'ERR_DESTINATION_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'DestinationRefused';
  }
}

const HOW_TO_ALLOW = 'set HTTP_ALLOW_PRIVATE_NETWORKS=true or list the host in HTTP_ALLOWED_HOSTS to allow it';


export class DestinationGuard {
  readonly policy: GuardPolicy;
  constructor(policy: GuardPolicy) {
    this.policy = policy;
  }

  /** Whether HTTP_ALLOWED_HOSTS names this host (exactly or by `*.suffix`). */
  isAllowedHost(hostname: string): boolean {
    const host = bareHost(hostname);
    return this.policy.allowedHosts.some((entry) =>
      entry.startsWith('*.') ? host.endsWith(entry.slice(1)) && host.length > entry.length - 1 : host === bareHost(entry),
    );
  }

  /** Undefined when `address` may be reached from `hostname`; else why not. */
  refusal(hostname: string, address: string): string | undefined {
    if (this.policy.allowPrivateNetworks || this.isAllowedHost(hostname)) return undefined;
    const kind: AddressKind | undefined = classifyAddress(bareHost(address));
    if (kind === undefined || kind === 'public') return undefined;
    const via = bareHost(hostname) === bareHost(address) ? '' : ` (${hostname} resolves to it)`;
    return `destination refused: ${bareHost(address)} is a ${kind} address${via}; ${HOW_TO_ALLOW}`;
  }

  /**
   * The check on a URL's host without DNS: IP literals by their kind and, when
   * `refuseLocalNames` (runtimes that cannot see resolved addresses), `localhost` and
   * `*.localhost`, which always mean loopback (RFC 6761).
   */
  checkHost(hostname: string, refuseLocalNames = false): string | undefined {
    const host = bareHost(hostname);
    if (refuseLocalNames && (host === 'localhost' || host.endsWith('.localhost')) && !this.policy.allowPrivateNetworks && !this.isAllowedHost(host)) {
      return `destination refused: ${host} is a loopback name; ${HOW_TO_ALLOW}`;
    }
    return this.refusal(host, host);
  }
}

/** HTTP_ALLOWED_HOSTS's comma-separated list → normalised entries. */
/** The guard HTTP_ALLOW_PRIVATE_NETWORKS and HTTP_ALLOWED_HOSTS describe. */
export function guardFromConfig(config: { httpAllowPrivateNetworks: boolean; httpAllowedHosts: readonly string[] }): DestinationGuard {
  return new DestinationGuard({ allowPrivateNetworks: config.httpAllowPrivateNetworks, allowedHosts: config.httpAllowedHosts });
}
