// Preloaded with `node --import` by the CLI tests: records every module URL the process resolves
// (ESM resolve hook, run on the loader thread) into the file named by APTFREEZE_TEST_MODULE_TRACE.
import { register } from 'node:module';

if (process.env.APTFREEZE_TEST_MODULE_TRACE) {
  register(
    'data:text/javascript,' +
      encodeURIComponent(`import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(${JSON.stringify(process.env.APTFREEZE_TEST_MODULE_TRACE)}, r.url + '\\n');
  return r;
}`),
  );
}
