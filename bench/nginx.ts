// nginx as the reference reverse proxy, when installed: one worker process (the Node servers
// use one thread each), keep-alive to the upstream, the same bearer header set on every request.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { findCommand, freePort, startServer, workDir, mustStart, type ServerProcess } from './processes.js'

export function findNginx (): string | null {
  return findCommand('nginx')
}

export interface NginxOptions {
  binary: string
  upstreamUrl: string
  token: string
  /** Writes an access log line per request, like Fastify's request log at info. */
  accessLog: boolean
  /** false: `proxy_buffering off`, each chunk passed on as it comes (server-sent events). */
  buffering?: boolean
  /** Connections the worker may hold, client and upstream sides together (4096). */
  workerConnections?: number
}

export async function startNginx (options: NginxOptions): Promise<ServerProcess> {
  const dir = workDir('nginx')
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub))
  const port = await freePort()
  const upstream = new URL(options.upstreamUrl)
  const config = `
worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections ${options.workerConnections ?? 4096}; }
http {
  access_log ${options.accessLog ? join(dir, 'access.log') : 'off'};
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  keepalive_requests 1000000;
  upstream backend {
    server ${upstream.host};
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    # The gateway's listen backlog (CLIENT_LISTEN_BACKLOG's default); nginx's own, 511, dropped
    # connections when 5,000 streams opened at once.
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${options.token}";
${options.buffering === false ? '      proxy_buffering off;\n' : ''}    }
  }
}
`
  const file = join(dir, 'nginx.conf')
  writeFileSync(file, config)
  return mustStart(await startServer({ name: 'nginx', command: options.binary, args: ['-p', dir, '-c', file], url: `http://127.0.0.1:${port}` }))
}
