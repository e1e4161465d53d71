// nginx on 127.0.0.1 with its own configuration, pid file, logs and temp paths in a bench
// directory (the system's nginx configuration is never read or touched). `daemon off`: the
// master is our child process, in its own process group, stopped by the bench's cleanup.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from './proc.ts';
import { waitForHttp } from './net.ts';

export interface NginxSite {
  port: number;
  root: string;
}

export interface Nginx {
  daemon: Daemon;
  urls: string[];
  stop(): Promise<void>;
  errorLog: string;
}

export async function startNginx(dir: string, sites: NginxSite[]): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(path.join(dir, t), { recursive: true });
  const errorLog = path.join(dir, 'error.log');
  const mime = existsSync('/etc/nginx/mime.types') ? 'include /etc/nginx/mime.types;' : '';
  // As root, workers would switch to "nobody", who cannot enter the 0700 data directory of the
  // service; this nginx only ever listens on 127.0.0.1 for the length of the bench.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  const conf = `# aptfreeze bench: Debian's stock settings, except the access log (off) and the paths
${user}
worker_processes auto;
daemon off;
pid ${path.join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 4096; }
http {
  ${mime}
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  client_body_temp_path ${path.join(dir, 'body')};
  proxy_temp_path ${path.join(dir, 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'scgi')};
${sites.map((s) => `  server {\n    listen 127.0.0.1:${s.port};\n    root ${s.root};\n    autoindex off;\n  }`).join('\n')}
}
`;
  const confPath = path.join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const daemon = startDaemon('nginx', ['-e', errorLog, '-p', dir, '-c', confPath]);
  const urls = sites.map((s) => `http://127.0.0.1:${s.port}`);
  try {
    for (const u of urls) await waitForHttp(`${u}/`, 15_000, daemon);
  } catch (e) {
    await daemon.stop();
    throw new Error(`nginx did not start: ${(e as Error).message}\n${daemon.output()}`);
  }
  return { daemon, urls, errorLog, stop: () => daemon.stop() };
}
