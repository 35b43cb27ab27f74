// Preloaded with `node --import` to record every module a run resolves (ESM and CommonJS),
// so a test can prove `billctl --help` never loads pdfkit, stripe or pg.
import fs from 'node:fs';
import Module from 'node:module';
import { register } from 'node:module';

const out = process.env.TRACE_LOADS_FILE;
register('data:text/javascript,' + encodeURIComponent(`
  import fs from 'node:fs';
  export async function resolve(specifier, context, next) {
    const r = await next(specifier, context);
    fs.appendFileSync(${JSON.stringify(out)}, r.url + '\\n');
    return r;
  }
`));
const load = Module._load;
Module._load = function (request, parent, isMain) {
  fs.appendFileSync(out, `cjs:${request}\n`);
  return load.call(this, request, parent, isMain);
};
