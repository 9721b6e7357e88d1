/**
 * Prometheus metrics of the data plane, served at `/metrics` on its port:
 * calls and latency per product, model (route target) and upstream
 * version, so a rollout's analysis can compare versions with PromQL (e.g.
 * the error rate of `version="v2"`), as it would any service.
 *
 * Counted in plain arrays per label set and written out in the text format
 * when scraped: a call costs one map lookup and a few increments (through
 * prom-client it cost label hashing and several objects per call, a
 * measurable share of a call's CPU and garbage).
 */

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

interface CallSeries {
  labels: string;
  product: string;
  model: string;
  byStatusClass: number[];
  /** 5xx and 429: what the version failed (the error rate rollout analysis reads), which no status class alone gives. */
  upstreamErrors: number;
  /** Observations per bucket (not cumulative), the last one for +Inf. */
  buckets: number[];
  seconds: number;
  count: number;
  promptTokens: number;
  completionTokens: number;
}

/** A label value in the text format: backslash, double quote and newline escaped. */
const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

export class DataPlaneMetrics {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly calls = new Map<string, CallSeries>();
  private readonly refusals = new Map<string, { labels: string; count: number }>();

  call(labels: { product: string; model: string; route?: string; version?: string; status: number; seconds: number; promptTokens: number; completionTokens: number }) {
    const route = labels.route ?? '';
    const version = labels.version ?? '';
    const id = `${labels.product}\u0000${labels.model}\u0000${route}\u0000${version}`;
    let series = this.calls.get(id);
    if (!series) {
      series = {
        labels: `product=${quote(labels.product)},model=${quote(labels.model)},route=${quote(route)},version=${quote(version)}`,
        product: labels.product,
        model: labels.model,
        byStatusClass: [0, 0, 0, 0, 0],
        upstreamErrors: 0,
        buckets: new Array(BUCKETS.length + 1).fill(0),
        seconds: 0,
        count: 0,
        promptTokens: 0,
        completionTokens: 0,
      };
      this.calls.set(id, series);
    }
    series.byStatusClass[Math.min(4, Math.max(0, Math.floor(labels.status / 100) - 1))]++;
    if (labels.status >= 500 || labels.status === 429) series.upstreamErrors++;
    let bucket = 0;
    while (bucket < BUCKETS.length && labels.seconds > BUCKETS[bucket]) bucket++;
    series.buckets[bucket]++;
    series.seconds += labels.seconds;
    series.count++;
    series.promptTokens += labels.promptTokens;
    series.completionTokens += labels.completionTokens;
  }

  refused(product: string, reason: string) {
    const id = `${product}\u0000${reason}`;
    let series = this.refusals.get(id);
    if (!series) {
      series = { labels: `product=${quote(product)},reason=${quote(reason)}`, count: 0 };
      this.refusals.set(id, series);
    }
    series.count++;
  }

  /** The text exposition format. */
  metrics(): string {
    const lines: string[] = [
      '# HELP quarterdeck_gateway_requests_total Calls through the gateway by product, model, upstream version and status class.',
      '# TYPE quarterdeck_gateway_requests_total counter',
    ];
    for (const s of this.calls.values()) {
      s.byStatusClass.forEach((n, i) => {
        if (n > 0) lines.push(`quarterdeck_gateway_requests_total{${s.labels},status="${STATUS_CLASSES[i]}"} ${n}`);
      });
    }
    lines.push(
      '# HELP quarterdeck_gateway_upstream_errors_total Calls an upstream version failed (5xx, 429, timeouts), by product, model and upstream version: over requests_total, the error rate GET /metrics/models gives.',
      '# TYPE quarterdeck_gateway_upstream_errors_total counter',
    );
    for (const s of this.calls.values()) lines.push(`quarterdeck_gateway_upstream_errors_total{${s.labels}} ${s.upstreamErrors}`);
    lines.push(
      '# HELP quarterdeck_gateway_request_duration_seconds Time from the attempt on this version to the end of its response, by product, model and upstream version.',
      '# TYPE quarterdeck_gateway_request_duration_seconds histogram',
    );
    for (const s of this.calls.values()) {
      let cumulative = 0;
      BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i];
        lines.push(`quarterdeck_gateway_request_duration_seconds_bucket{${s.labels},le="${le}"} ${cumulative}`);
      });
      lines.push(
        `quarterdeck_gateway_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`,
        `quarterdeck_gateway_request_duration_seconds_sum{${s.labels}} ${s.seconds}`,
        `quarterdeck_gateway_request_duration_seconds_count{${s.labels}} ${s.count}`,
      );
    }
    lines.push(
      '# HELP quarterdeck_gateway_tokens_total Tokens by product, model and kind (prompt or completion).',
      '# TYPE quarterdeck_gateway_tokens_total counter',
    );
    // Tokens are by product and model only: several routes or versions may share a model's series.
    const tokens = new Map<string, { product: string; model: string; prompt: number; completion: number }>();
    for (const s of this.calls.values()) {
      const id = `${s.product}\u0000${s.model}`;
      const t = tokens.get(id) ?? { product: s.product, model: s.model, prompt: 0, completion: 0 };
      t.prompt += s.promptTokens;
      t.completion += s.completionTokens;
      tokens.set(id, t);
    }
    for (const t of tokens.values()) {
      const labels = `product=${quote(t.product)},model=${quote(t.model)}`;
      if (t.prompt > 0) lines.push(`quarterdeck_gateway_tokens_total{${labels},kind="prompt"} ${t.prompt}`);
      if (t.completion > 0) lines.push(`quarterdeck_gateway_tokens_total{${labels},kind="completion"} ${t.completion}`);
    }
    lines.push(
      '# HELP quarterdeck_gateway_refusals_total Calls refused before reaching an upstream, by product and reason (key-missing/malformed/unknown/revoked/expired, the limit that refused, limits-unavailable, validation; a validation refusal has no product).',
      '# TYPE quarterdeck_gateway_refusals_total counter',
    );
    for (const r of this.refusals.values()) lines.push(`quarterdeck_gateway_refusals_total{${r.labels}} ${r.count}`);
    return `${lines.join('\n')}\n`;
  }
}
