import { createRequire } from 'node:module';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';

// pino-pretty (and its dozen modules) is loaded only for human lines: a command run from cron or CI
// writes JSON and should not pay for it (README "Performance").
const require = createRequire(import.meta.url);

export type Logger = pino.Logger;

/**
 * Log lines on stderr (stdout is the CLI's output). On a terminal they are
 * human lines (pino-pretty, one line an event, a snapshot summarised with its
 * serial, counts and time); anywhere else, JSON lines for a collector. The
 * level comes from APTFREEZE_LOG (default info; `silent` in tests);
 * APTFREEZE_LOG_FORMAT=json|pretty overrides the terminal test.
 */
export function createLogger(name = 'aptfreeze', opts: { tty?: boolean } = {}): Logger {
  const format = process.env['APTFREEZE_LOG_FORMAT'];
  const human = format === 'pretty' || (format !== 'json' && (opts.tty ?? process.stderr.isTTY === true));
  const options = { name, level: process.env['APTFREEZE_LOG'] ?? 'info', base: { pid: process.pid } };
  if (!human) return pino(options, pino.destination({ fd: 2, sync: true }));
  const pretty = require('pino-pretty') as typeof PinoPretty;
  return pino(options, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, singleLine: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname,name', messageFormat: humanMessage }));
}

/** The one-line human form of the events an operator reads most; others keep their message. */
export function humanMessage(log: Record<string, unknown>, messageKey: string): string {
  const msg = String(log[messageKey] ?? '');
  if (msg === 'snapshot published' && typeof log['serial'] === 'string') {
    const n = (k: string) => Number(log[k] ?? 0);
    return `${String(log['archive'])} ${log['serial']} published: ${n('suites')} suite(s), ${n('indexFetched')}/${n('indexFiles')} index files and ${n('poolFetched')}/${n('poolFiles')} pool files fetched, ${formatBytes(n('bytesFetched'))} in ${(n('ms') / 1000).toFixed(1)} s`;
  }
  return msg;
}

function formatBytes(b: number): string {
  return b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : b >= 1e3 ? `${(b / 1e3).toFixed(1)} kB` : `${b} B`;
}

export const silentLogger: Logger = pino({ level: 'silent' });
