import { userInfo } from 'node:os';

/**
 * Who a CLI mutation acts as: `cli:<user>`. The CLI needs no token: it opens
 * the data directory itself, and write access to that directory (database,
 * signing key) is already the authority over the service. The audit log
 * still says who did it.
 */
export function cliActor(): string {
  let user = process.env['SUDO_USER'] || process.env['USER'] || process.env['LOGNAME'];
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `cli:${user}`;
}
