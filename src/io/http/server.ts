import { createServer } from 'node:http';
import { errorMessage } from '../../errors.js';
import type { StatusReporter } from '../mqtt/status.js';
import { StationMetrics, type MetricsSources } from './metrics.js';

export interface HttpServerOptions extends MetricsSources {
  /** Default 127.0.0.1: metrics say a lot about a line; expose them deliberately. */
  readonly host: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly status: Pick<StatusReporter, 'report'>;
}

export interface HttpServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * GET /healthz: the status report as JSON; 200 when health is ok, 503 when degraded.
 * GET /metrics: Prometheus text format.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const metrics = new StationMetrics(opts);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/healthz') {
      const report = opts.status.report('online');
      res.writeHead(report.health.state === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(report));
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(errorMessage(err)),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  return {
    url: `http://${opts.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        metrics.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
