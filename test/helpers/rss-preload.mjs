// Preloaded into a CLI run (NODE_OPTIONS=--import=<this file>) by the hostile-upstream tests:
// at exit it writes the process's peak resident set size in KiB to $APTFREEZE_TEST_RSS_FILE,
// so a test can bound the memory an attack costs the service.
import { writeFileSync } from 'node:fs';

const file = process.env.APTFREEZE_TEST_RSS_FILE;
if (file) {
  process.on('exit', () => {
    try {
      writeFileSync(file, String(process.resourceUsage().maxRSS));
    } catch {
      /* the test reports a missing file */
    }
  });
}
