/** Records every module the process loads (ESM load hook), one URL a line, into $IMPORTS_OUT. */
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.IMPORTS_OUT, url + '\\n');
  return next(url, context);
}`;
const REGISTER = `import { register } from 'node:module';
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

/** The `--import` value for node that makes a process record the modules it loads into $IMPORTS_OUT. */
export const RECORD_IMPORTS = `data:text/javascript,${encodeURIComponent(REGISTER)}`;
