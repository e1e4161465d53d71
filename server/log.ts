import pino from 'pino';

export type Logger = pino.Logger;

/**
 * Structured JSON log lines on stderr (stdout is the CLI's output). The level
 * comes from APTFREEZE_LOG (default info; `silent` in tests).
 */
export function createLogger(name = 'aptfreeze'): Logger {
  return pino({ name, level: process.env['APTFREEZE_LOG'] ?? 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
