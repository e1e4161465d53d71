// Preloaded with `node --import` by the CLI tests: records every module URL the process resolves
// into the file named by APTFREEZE_TEST_MODULE_TRACE: ESM through a resolve hook (run on the loader
// thread), CommonJS through Module._resolveFilename (a package the code require()s, such as
// better-sqlite3 in server/catalog/open.ts, and what that package requires in turn).
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

const file = process.env.APTFREEZE_TEST_MODULE_TRACE;
if (file) {
  register(
    'data:text/javascript,' +
      encodeURIComponent(`import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(file)}, r.url + '\\n');
  return r;
}`),
  );
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const r = resolveFilename.apply(this, args);
    if (typeof r === 'string' && isAbsolute(r)) appendFileSync(file, `${pathToFileURL(r).href}\n`);
    return r;
  };
}
