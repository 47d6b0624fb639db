// Builds selections that leave out what the viewer may not read, so the hub is not even asked.
import { mayRead } from './session';

/** A selection on `type`: a field name (with arguments, e.g. "transactions(first: 5)"), or
 * [field, childType, childSelection]. */
export type Sel = (string | [string, string, Sel])[];

function fieldName(f: string): string {
  const i = f.indexOf('(');
  return (i < 0 ? f : f.slice(0, i)).trim();
}

export function select(type: string, sel: Sel): string {
  const out: string[] = [];
  for (const item of sel) {
    if (typeof item === 'string') {
      if (mayRead(`${type}.${fieldName(item)}`)) out.push(item);
    } else {
      const [f, child, sub] = item;
      if (!mayRead(`${type}.${fieldName(f)}`)) continue;
      const inner = select(child, sub);
      if (inner) out.push(`${f} ${inner}`);
    }
  }
  return out.length ? `{ ${out.join(' ')} }` : '';
}

/** Money as the viewer may read it: the amount, or the band for a role that reads bands. */
export function moneySel(): Sel {
  return mayRead('Money.amount') ? ['amount', 'currency'] : ['currency', 'band'];
}

export const REASON: Sel = ['rule', 'detail', 'inputs'];
