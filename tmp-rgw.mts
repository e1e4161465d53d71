import { startRgw } from './test/helpers/rgw.ts';
import { mkdtempSync } from 'node:fs';
for (let i = 0; i < 3; i++) {
const t = Date.now();
const dir = mkdtempSync('/tmp/af-rgwx-');
try {
const c = await startRgw(dir);
console.log('started in', Date.now() - t, 'ms', c.endpoint, c.pids);
await c.stop();
} catch (e) { console.log('FAILED', dir, String(e).slice(0, 300)); }
}
