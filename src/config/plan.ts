import { AirlockError } from '../core/errors.js';
import type { ConfigErrorCode, PlanErrorCode, ProjectConfig } from './model.js';
import { didYouMeanText } from './suggest.js';

/**
 * The targets needed to build `wanted` (every target when empty), each after
 * all of its deps; order follows the file and the order of deps, so the same
 * config always gives the same plan. Unknown names throw UNKNOWN_TARGET.
 */
export function planOrder(config: ProjectConfig, wanted: string[]): string[] {
  const names = [...config.targets.keys()];
  for (const name of wanted) {
    if (!config.targets.has(name)) {
      throw new AirlockError<PlanErrorCode>(
        'UNKNOWN_TARGET',
        `unknown target "${name}"${didYouMeanText(name, names)}`,
        {
          hint: `Targets declared in ${config.file}: ${names.join(', ')}.`,
          details: { target: name, known: names, file: config.file },
        },
      );
    }
  }
  const order: string[] = [];
  const state = new Map<string, 'active' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'active') {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      throw new AirlockError<ConfigErrorCode>(
        'CONFIG_INVALID',
        `dependency cycle: ${cycle.join(' → ')}`,
        { hint: 'Remove one dep of the cycle.', details: { file: config.file, cycle } },
      );
    }
    const target = config.targets.get(name);
    if (target === undefined) {
      throw new AirlockError<ConfigErrorCode>(
        'CONFIG_INVALID',
        `target "${chain[chain.length - 1] ?? ''}" depends on unknown target "${name}"`,
        {
          hint: 'Load configs with loadConfig or parseConfig, which check deps.',
          details: { file: config.file, target: name },
        },
      );
    }
    state.set(name, 'active');
    for (const dep of target.deps) visit(dep.target, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of wanted.length === 0 ? names : wanted) visit(name, []);
  return order;
}
