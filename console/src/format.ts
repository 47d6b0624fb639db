// Formatting for people: amounts from decimal STRINGS (never parsed into floats), dates in
// Beijing time.

const DASH = '—';

function group(int: string): string {
  let out = '';
  for (let i = 0; i < int.length; i++) {
    if (i > 0 && (int.length - i) % 3 === 0) out += ',';
    out += int[i];
  }
  return out;
}

/** "¥1,234,567.80" for CNY, "USD 1,234.00" for other currencies; "—" when absent. */
export function money(amount: string | null | undefined, currency?: string): string {
  if (amount === null || amount === undefined) return DASH;
  let s = String(amount).trim();
  if (s === '') return DASH;
  let sign = '';
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = '-';
    s = s.slice(1);
  }
  if (!/^\d*(\.\d*)?$/.test(s)) return String(amount); // not a decimal: show what the hub sent
  let [int, frac = ''] = s.split('.');
  int = int.replace(/^0+(?=\d)/, '');
  if (int === '') int = '0';
  // at least two decimals; keep more only when they are not zeros (no rounding, ever)
  frac = frac.replace(/0+$/, '');
  while (frac.length < 2) frac += '0';
  if (/^0*$/.test(int + frac)) sign = '';
  const cur = (currency ?? 'CNY').toUpperCase();
  const body = `${group(int)}.${frac}`;
  return cur === 'CNY' ? `${sign}¥${body}` : `${sign}${cur} ${body}`;
}

const TZ = 'Asia/Shanghai';
let dtf: Intl.DateTimeFormat | null = null;
function parts(d: Date): Record<string, string> {
  dtf ??= new Intl.DateTimeFormat('en-GB', {
    timeZone: TZ,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const out: Record<string, string> = {};
  for (const p of dtf.formatToParts(d)) out[p.type] = p.value;
  return out;
}

/** "2026-12-04 13:05" in Beijing time; "—" when absent. */
export function dateTime(rfc3339: string | null | undefined): string {
  if (!rfc3339) return DASH;
  const d = new Date(rfc3339);
  if (isNaN(d.getTime())) return rfc3339;
  const p = parts(d);
  return `${p.year}-${p.month}-${p.day} ${p.hour === '24' ? '00' : p.hour}:${p.minute}`;
}

/** "2026-12-04": a plain date as is, a timestamp as its Beijing date; "—" when absent. */
export function date(d: string | null | undefined): string {
  if (!d) return DASH;
  if (/^\d{4}-\d{2}-\d{2}$/.test(d)) return d;
  const x = new Date(d);
  if (isNaN(x.getTime())) return d;
  const p = parts(x);
  return `${p.year}-${p.month}-${p.day}`;
}

/** A rate the hub sends in percent per year ("4.35" -> "4.35%"); "—" when absent. */
export function percent(v: string | number | null | undefined): string {
  if (v === null || v === undefined || v === '') return DASH;
  return `${v}%`;
}
