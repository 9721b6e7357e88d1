import type { GatewayProduct } from '@quarterdeck/plugin-gateway-common';

/** Whether `gateway.allowedUpstreamHosts` takes `host`: named as it is, or under a `*.` suffix. */
export function upstreamHostAllowed(host: string, allowed: readonly string[]): boolean {
  return allowed.some(a => a === host || (a.startsWith('*.') && host.endsWith(a.slice(1))));
}

/** An upstream of a stored product whose host the allowlist no longer takes (it was narrowed after the product was written). */
export interface UpstreamOutsideAllowlist {
  productId: string;
  upstream: string;
  host: string;
}

export function upstreamsOutsideAllowlist(products: readonly GatewayProduct[], allowed: readonly string[]): UpstreamOutsideAllowlist[] {
  const outside: UpstreamOutsideAllowlist[] = [];
  for (const product of products) {
    for (const upstream of product.upstreams) {
      const host = hostOf(upstream.url);
      if (!upstreamHostAllowed(host, allowed)) outside.push({ productId: product.id, upstream: upstream.name, host });
    }
  }
  return outside;
}

/** The host an upstream URL names, as the allowlist reads it ('' for a URL that cannot be read, which no entry takes). */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}
