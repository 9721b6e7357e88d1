import type { GatewayProduct, GatewayProductSpec } from '@quarterdeck/plugin-gateway-common';
import { isMap, LineCounter, parseDocument, stringify } from 'yaml';

/* The product editor's text: a product's spec as YAML, read back, and where in it a problem is. */

/** The spec of `product`, as YAML: what the editor opens with. */
export function specYaml(product: GatewayProduct): string {
  const { id: _id, entityRef: _ref, updatedAt: _at, updatedBy: _by, ...spec } = product;
  return stringify(spec, { lineWidth: 0 });
}

/** A first spec for an API that has no product yet, of either kind; the owners fill in their upstream. */
export function starterYaml(kind: GatewayProductSpec['kind'], title: string): string {
  const head = [
    `kind: ${kind}`,
    `title: ${JSON.stringify(title)}`,
    'upstreams:',
    '  # Its host must be in gateway.allowedUpstreamHosts.',
    '  - name: main',
    '    url: https://api.internal',
    '    timeoutMs: 30000',
  ];
  const models = [
    'models:',
    '  - name: chat',
    '    upstream: main',
    '    contextWindow: 8192',
    '    inputPricePerMillion: 0.15',
    '    outputPricePerMillion: 0.6',
  ];
  const plans = [
    'plans:',
    '  - name: standard',
    '    requestsPerMinute: 600',
    ...(kind === 'openai' ? ['    tokensPerMinute: 100000', '    dailyCost: 10'] : []),
  ];
  return [...head, ...(kind === 'openai' ? models : []), ...plans, ''].join('\n');
}

/** Where a problem is: its line (1-based) and the text's character range, to select it. */
export type TextSpot = { line: number; start: number; end: number };

/** The spec in `text`, or what is wrong with it as YAML, with where. */
export function readSpec(text: string): { ok: true; spec: unknown } | { ok: false; message: string; spot?: TextSpot } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const [start, end] = error.pos;
    const { line } = lines.linePos(start);
    const quoted = text.split('\n')[line - 1]?.trim().slice(0, 60);
    return { ok: false, message: `YAML, line ${line}${quoted ? ` (${quoted})` : ''}: ${error.message.split('\n')[0]}`, spot: { line, start, end: Math.max(end, start + 1) } };
  }
  if (!isMap(doc.contents)) return { ok: false, message: 'The product must be a YAML mapping: kind, upstreams, plans and the rest' };
  return { ok: true, spec: doc.toJS() };
}

/**
 * Where the field a backend message names (`spec.routes[0].targets[1].model:
 * …`) is in `text`: the deepest part of its path that the text has (a
 * missing field is pointed at through its parent). Undefined when the
 * message names no field of the spec.
 */
export function spotOfField(text: string, message: string): TextSpot | undefined {
  const field = /^spec\.([^:\s]+):/.exec(message)?.[1];
  if (!field) return undefined;
  const path = field.split(/\.|(?=\[)/).map(part => (/^\[\d+\]$/.test(part) ? Number(part.slice(1, -1)) : part));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  for (let depth = path.length; depth > 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true) as { range?: [number, number, number] } | undefined;
    if (node?.range) {
      const [start, end] = node.range;
      return { line: lines.linePos(start).line, start, end };
    }
  }
  return undefined;
}
