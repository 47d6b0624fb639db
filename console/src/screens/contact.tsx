// The "contact" tab of the 360 view: log an interaction, record a consent, record contact
// preferences, and the mayContact check before a MARKETING contact.
//
// Every keystroke is kept as a draft (session.saveDraft) and restored on mount, so a session
// that expires mid-typing loses nothing; a draft is cleared after a successful submit.
// The hub validates: its field errors (BAD_USER_INPUT / NOT_FOUND with extensions.field) go
// next to the field they name, anything else above the submit button. Nothing the hub checks
// is validated away here (satisfaction is a number input without min/max).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JSX } from 'preact';
import { gql, isForbidden, SessionExpired } from '../api';
import type { GqlError } from '../api';
import { t, useLang } from '../i18n';
import { dateTime } from '../format';
import { clearDraft, denied, loadDraft, mayRead, saveDraft, useViewer } from '../session';
import { ErrorBanner, Field, Forbidden, Loading } from '../ui';
import {
  enumOptions,
  failure,
  INTERACTION_CHANNEL,
  INTERACTION_DIRECTION,
  INTERACTION_OUTCOME,
  INTERACTION_TYPE,
  label,
} from './timeline';
import type { Labels } from './timeline';
import './ops.css';

const CONSENT_PURPOSE: Labels = {
  MARKETING: ['营销', 'Marketing'],
  PROFILING: ['用户画像', 'Profiling'],
  THIRD_PARTY_SHARING: ['向第三方提供', 'Third-party sharing'],
};
const CONTACT_CHANNEL: Labels = {
  SMS: ['短信', 'SMS'],
  PHONE: ['电话', 'Phone'],
  EMAIL: ['电子邮件', 'Email'],
  WECHAT: ['微信', 'WeChat'],
  APP_PUSH: ['应用推送', 'App push'],
};
const CONTACT_REASON: Labels = {
  ALLOWED: ['可以联系', 'Allowed'],
  NO_CONSENT: ['客户未就此渠道给予营销同意', 'The customer never consented to marketing on this channel'],
  CONSENT_WITHDRAWN: ['客户已撤回此渠道的营销同意', 'The customer withdrew marketing consent on this channel'],
  DO_NOT_CONTACT: ['客户要求不接受营销联系', 'The customer asked not to be contacted'],
  QUIET_HOURS: ['处于客户的免打扰时段', 'Inside the customer’s quiet hours'],
};

/** The contact channel a contact on this interaction channel uses (as the hub maps it:
 * face-to-face contacts and internet-banking sessions the customer opened need none). */
const CONTACT_CHANNEL_OF: Record<string, string | undefined> = {
  CALL_CENTER: 'PHONE',
  SMS: 'SMS',
  EMAIL: 'EMAIL',
  WECHAT: 'WECHAT',
  MOBILE_APP: 'APP_PUSH',
};

/** A fresh idempotency key (crypto.randomUUID needs a secure context; fall back to a v4
 * UUID from getRandomValues on plain http). */
function newKey(): string {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') {
    try {
      return c.randomUUID();
    } catch {
      /* not a secure context */
    }
  }
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** `YYYY-MM-DDTHH:MM` from a datetime-local control, read as Beijing time. */
function beijing(local: string): string | null {
  if (!local) return null;
  return `${local.length === 16 ? `${local}:00` : local}+08:00`;
}

// ---- a form's state: values kept as a draft per customer, errors, idempotency key ----

interface Draft<V> {
  cif: string;
  v: V;
  /** The key of the last attempt and the input it was for: a retry of the same input
   * reuses it, so the hub writes the contact once. */
  key?: string;
  keyFor?: string;
}

interface Outcome {
  fields: Record<string, string>;
  form: GqlError | null;
  failed: string | null;
  ok: string | null;
}

const NO_OUTCOME: Outcome = { fields: {}, form: null, failed: null, ok: null };

function useDraftForm<V>(name: string, cif: string, initial: V) {
  const [draft, setDraft] = useState<Draft<V>>(() => {
    const d = loadDraft<Draft<V>>(name);
    return d && d.cif === cif && d.v ? { ...d, v: { ...initial, ...d.v } } : { cif, v: initial };
  });
  const ref = useRef(draft);
  ref.current = draft;
  const [busy, setBusy] = useState(false);
  const [out, setOut] = useState<Outcome>(NO_OUTCOME);
  const [restored, setRestored] = useState(() => loadDraft<Draft<V>>(name)?.cif === cif);

  /** A change by the user (saved as a draft at once; hides the last success), or with
   * `quiet` a change by the form itself. */
  const update = (patch: Partial<V>, quiet = false) => {
    const next = { ...ref.current, v: { ...ref.current.v, ...patch } };
    ref.current = next;
    setDraft(next);
    saveDraft(name, next);
    if (!quiet && out.ok) setOut(NO_OUTCOME);
  };
  /** The idempotency key for submitting `input`: the same one while the input is the same. */
  const keyFor = (input: unknown): string => {
    const fp = JSON.stringify(input);
    const d = ref.current;
    if (d.key && d.keyFor === fp) return d.key;
    const next = { ...d, key: newKey(), keyFor: fp };
    ref.current = next;
    setDraft(next);
    saveDraft(name, next);
    return next.key!;
  };
  const done = (fresh: V, ok: string) => {
    clearDraft(name);
    const next = { cif, v: fresh };
    ref.current = next;
    setDraft(next);
    setOut({ ...NO_OUTCOME, ok });
    setRestored(false);
  };
  return { v: draft.v, update, keyFor, done, busy, setBusy, out, setOut, restored };
}

/** Sorts the hub's errors: field errors next to their field (`fieldIds` maps the hub's
 * field name, with or without an `input.` prefix, to the control's id), the rest to the form. */
function sortErrors(errors: GqlError[], fieldIds: Record<string, string>): Outcome {
  const fields: Record<string, string> = {};
  let form: GqlError | null = null;
  for (const e of errors) {
    const raw = typeof e.extensions?.field === 'string' ? e.extensions.field : '';
    const name = raw.replace(/^input\./, '');
    const id = fieldIds[name];
    if (id && !fields[id]) fields[id] = e.message;
    else form ??= e;
  }
  return { fields, form, failed: null, ok: null };
}

function FormError(p: { out: Outcome }): JSX.Element | null {
  if (p.out.form) {
    return (
      <div class="banner banner-error" role="alert" data-testid="form-error" data-code={p.out.form.extensions?.code ?? ''}>
        <strong>{t('未能提交', 'Not submitted')}</strong>{' '}
        {p.out.form.extensions?.code ? <code class="banner-code">{String(p.out.form.extensions.code)}</code> : null}{' '}
        <span>{p.out.form.message}</span>
      </div>
    );
  }
  if (p.out.failed) {
    return (
      <div class="banner banner-error" role="alert" data-testid="form-error">
        {p.out.failed}
      </div>
    );
  }
  if (Object.keys(p.out.fields).length) {
    return (
      <p class="ops-form-note" role="alert">
        {t('请更正标出的字段', 'Correct the marked fields')}
      </p>
    );
  }
  return null;
}

function Ok(p: { out: Outcome }): JSX.Element | null {
  return p.out.ok ? (
    <p class="ops-ok" role="status" data-testid="form-ok">
      {p.out.ok}
    </p>
  ) : null;
}

// ---- the panel ----

interface Consent {
  id: string;
  purpose: string;
  channel: string;
  granted: boolean;
  recordedAt: string;
  source: string;
  evidence: string | null;
  staffId?: string | null;
}

interface Prefs {
  preferredChannel: string | null;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  doNotContact: boolean;
  recordedAt: string;
  source: string;
  staffId?: string | null;
}

interface ContactData {
  customer: {
    id: string;
    consents?: Consent[] | null;
    consentHistory?: Consent[] | null;
    contactPreferences?: Prefs | null;
  } | null;
}

// staffId carries the `staff` class (a customer's own token may not read it): asked only when offered
const consentFields = () => `id purpose channel granted recordedAt source evidence${mayRead('Consent.staffId') ? ' staffId' : ''}`;
const prefFields = () =>
  `preferredChannel quietHoursStart quietHoursEnd doNotContact recordedAt source${mayRead('ContactPreferences.staffId') ? ' staffId' : ''}`;

export function ContactPanel(p: { cif: string }): JSX.Element {
  useLang();
  const viewer = useViewer();
  const [data, setData] = useState<ContactData['customer']>(null);
  const [errors, setErrors] = useState<GqlError[]>([]);
  const [loading, setLoading] = useState(true);
  const [failed, setFailed] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const readConsents = !denied('consents') && mayRead('Customer.consents');

  useEffect(() => {
    let live = true;
    (async () => {
      setLoading(true);
      setFailed(null);
      const sel = [
        readConsents ? `consents { ${consentFields()} }` : '',
        readConsents && mayRead('Customer.consentHistory') ? `consentHistory { ${consentFields()} }` : '',
        mayRead('Customer.contactPreferences') ? `contactPreferences { ${prefFields()} }` : '',
      ].join(' ');
      try {
        const r = await gql<ContactData>(`query ConsoleContact($cif: ID!) { customer(id: $cif) { id ${sel} } }`, {
          cif: p.cif,
        });
        if (!live) return;
        setData(r.data?.customer ?? null);
        setErrors(r.errors);
      } catch (e) {
        if (live && !(e instanceof SessionExpired)) setFailed(failure(e));
      } finally {
        if (live) setLoading(false);
      }
    })();
    return () => {
      live = false;
    };
  }, [p.cif, version, viewer?.subject]);

  const changed = () => setVersion((n) => n + 1);
  const topError = errors.find((e) => !e.path || e.path.length <= 1);

  return (
    <div class="ops-contact" data-testid="contact-panel">
      {failed ? (
        <div class="banner banner-error" role="alert">
          {failed}
        </div>
      ) : null}
      {topError ? isForbidden(topError) ? <Forbidden /> : <ErrorBanner error={topError} /> : null}
      <InteractionForm cif={p.cif} version={version} onLogged={changed} />
      <section class="ops-card" aria-labelledby="consents-h">
        <h2 id="consents-h">{t('同意记录', 'Consents')}</h2>
        {loading && !data ? <Loading /> : <Consents data={data} errors={errors} offered={readConsents} />}
        {mayRead('Mutation.recordConsent') ? <ConsentForm cif={p.cif} onRecorded={changed} /> : null}
      </section>
      <section class="ops-card" aria-labelledby="prefs-h">
        <h2 id="prefs-h">{t('联系偏好', 'Contact preferences')}</h2>
        {loading && !data ? <Loading /> : <CurrentPrefs data={data} errors={errors} />}
        {mayRead('Mutation.recordContactPreferences') ? (
          <PreferencesForm cif={p.cif} current={data?.contactPreferences ?? null} onRecorded={changed} />
        ) : null}
      </section>
    </div>
  );
}

/** The error that took the whole field (not one of its sub-fields). */
function fieldError(errors: GqlError[], field: string): GqlError | undefined {
  return errors.find((e) => e.path && e.path.length === 2 && e.path[0] === 'customer' && e.path[1] === field);
}

/** A sub-field the hub answered FORBIDDEN, or one not asked for because the role may not read it. */
function forbiddenAt(errors: GqlError[], path: (string | number)[]): boolean {
  return errors.some(
    (e) => isForbidden(e) && e.path && e.path.length === path.length && path.every((x, i) => e.path![i] === x),
  );
}

function ConsentTable(p: { rows: Consent[]; caption: string; testid: string; errors: GqlError[]; field: string }): JSX.Element {
  const staffOffered = mayRead('Consent.staffId');
  return (
    <table class="ops-table" data-testid={p.testid}>
      <caption>{p.caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t('目的', 'Purpose')}</th>
          <th scope="col">{t('渠道', 'Channel')}</th>
          <th scope="col">{t('状态', 'Status')}</th>
          <th scope="col">{t('记录时间', 'Recorded')}</th>
          <th scope="col">{t('来源', 'Source')}</th>
          <th scope="col">{t('凭证', 'Evidence')}</th>
          <th scope="col">{t('员工', 'Staff')}</th>
        </tr>
      </thead>
      <tbody>
        {p.rows.map((c, i) => (
          <tr key={c.id} data-purpose={c.purpose} data-channel={c.channel} data-granted={String(c.granted)}>
            <td>{label(CONSENT_PURPOSE, c.purpose)}</td>
            <td>{label(CONTACT_CHANNEL, c.channel)}</td>
            <td>
              <span class={c.granted ? 'ops-yes' : 'ops-no'}>
                {c.granted ? t('已同意', 'Granted') : t('已撤回', 'Withdrawn')}
              </span>
            </td>
            <td>{dateTime(c.recordedAt)}</td>
            <td>{label(INTERACTION_CHANNEL, c.source)}</td>
            <td>{c.evidence ?? '—'}</td>
            <td>{!staffOffered || forbiddenAt(p.errors, ['customer', p.field, i, 'staffId']) ? <Forbidden /> : c.staffId ?? '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Consents(p: { data: ContactData['customer']; errors: GqlError[]; offered: boolean }): JSX.Element {
  if (!p.offered) return <Forbidden />;
  const err = fieldError(p.errors, 'consents');
  if (err) return isForbidden(err) ? <Forbidden /> : <ErrorBanner error={err} />;
  const rows = p.data?.consents ?? [];
  const history = p.data?.consentHistory;
  const histErr = fieldError(p.errors, 'consentHistory');
  return (
    <div data-testid="consents">
      {rows.length ? (
        <ConsentTable rows={rows} caption={t('当前同意（每个目的和渠道的最新记录）', 'Current consents (latest per purpose and channel)')} testid="consents-current" errors={p.errors} field="consents" />
      ) : (
        <p class="ops-empty">{t('尚无同意记录', 'No consent recorded yet')}</p>
      )}
      {histErr ? (
        isForbidden(histErr) ? <Forbidden /> : <ErrorBanner error={histErr} />
      ) : history && history.length ? (
        <details class="ops-details">
          <summary>{t(`历史记录（${history.length} 条）`, `History (${history.length} ${history.length === 1 ? 'record' : 'records'})`)}</summary>
          <ConsentTable rows={history} caption={t('全部同意记录，最新在前', 'Every consent record, newest first')} testid="consents-history" errors={p.errors} field="consentHistory" />
        </details>
      ) : null}
    </div>
  );
}

function CurrentPrefs(p: { data: ContactData['customer']; errors: GqlError[] }): JSX.Element {
  if (!mayRead('Customer.contactPreferences')) return <Forbidden />;
  const err = fieldError(p.errors, 'contactPreferences');
  if (err) return isForbidden(err) ? <Forbidden /> : <ErrorBanner error={err} />;
  const c = p.data?.contactPreferences;
  if (!c) return <p class="ops-empty">{t('尚未记录联系偏好（适用默认免打扰时段 21:00–08:00）', 'No preferences recorded (the default quiet hours 21:00–08:00 apply)')}</p>;
  return (
    <dl class="ops-dl" data-testid="preferences-current">
      <div>
        <dt>{t('首选渠道', 'Preferred channel')}</dt>
        <dd>{c.preferredChannel ? label(CONTACT_CHANNEL, c.preferredChannel) : '—'}</dd>
      </div>
      <div>
        <dt>{t('免打扰时段（北京时间）', 'Quiet hours (Beijing time)')}</dt>
        <dd>{c.quietHoursStart && c.quietHoursEnd ? `${c.quietHoursStart}–${c.quietHoursEnd}` : t('默认 21:00–08:00', 'Default 21:00–08:00')}</dd>
      </div>
      <div>
        <dt>{t('拒绝营销联系', 'Do not contact')}</dt>
        <dd>{c.doNotContact ? t('是', 'Yes') : t('否', 'No')}</dd>
      </div>
      <div>
        <dt>{t('记录于', 'Recorded')}</dt>
        <dd>
          {dateTime(c.recordedAt)} · {label(INTERACTION_CHANNEL, c.source)}
          {' · '}
          {!mayRead('ContactPreferences.staffId') || forbiddenAt(p.errors, ['customer', 'contactPreferences', 'staffId']) ? <Forbidden /> : c.staffId ?? '—'}
        </dd>
      </div>
    </dl>
  );
}

// ---- may we contact? ----

interface Decision {
  allowed: boolean;
  reason: string;
}

function MayContact(p: { cif: string; channel: string; version: number; refused: GqlError | null }): JSX.Element {
  useLang();
  const contact = CONTACT_CHANNEL_OF[p.channel];
  const [d, setD] = useState<Decision | null>(null);
  const [err, setErr] = useState<GqlError | null>(null);
  const [loading, setLoading] = useState(false);
  const offered = mayRead('Customer.mayContact');

  useEffect(() => {
    if (!contact || !offered) return;
    let live = true;
    setLoading(true);
    setD(null);
    setErr(null);
    gql<{ customer: { mayContact: Decision | null } | null }>(
      `query ConsoleMayContact($cif: ID!, $channel: ContactChannel!) {
        customer(id: $cif) { id mayContact(purpose: MARKETING, channel: $channel) { allowed reason } } }`,
      { cif: p.cif, channel: contact },
    )
      .then((r) => {
        if (!live) return;
        const m = r.data?.customer?.mayContact ?? null;
        setD(m);
        if (!m) setErr(r.errors[0] ?? null);
      })
      .catch((e) => {
        if (live && !(e instanceof SessionExpired)) setErr({ message: failure(e) });
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [p.cif, contact, p.version, offered]);

  // the hub's refusal of the submitted contact outranks the check made before it
  const refusedReason = p.refused ? String(p.refused.extensions?.reason ?? 'CONSENT_WITHDRAWN') : null;
  let body: JSX.Element;
  if (!contact) {
    body = (
      <p class="ops-decision ops-yes" data-testid="may-contact-result" data-allowed="true" data-reason="NO_CONSENT_NEEDED">
        {t(
          `${label(INTERACTION_CHANNEL, p.channel)}接触无需营销联系同意`,
          `A contact at ${label(INTERACTION_CHANNEL, p.channel)} needs no marketing consent`,
        )}
      </p>
    );
  } else if (!offered) {
    body = <Forbidden />;
  } else if (loading) {
    body = <Loading />;
  } else if (refusedReason || d) {
    const allowed = refusedReason ? false : d!.allowed;
    const reason = refusedReason ?? d!.reason;
    body = (
      <p
        class={`ops-decision ${allowed ? 'ops-yes' : 'ops-no'}`}
        data-testid="may-contact-result"
        data-allowed={String(allowed)}
        data-reason={reason}
      >
        <strong>
          {allowed
            ? t(`可以通过${label(CONTACT_CHANNEL, contact)}进行营销联系`, `Marketing contact by ${label(CONTACT_CHANNEL, contact)} is allowed`)
            : t(`不可通过${label(CONTACT_CHANNEL, contact)}进行营销联系`, `Marketing contact by ${label(CONTACT_CHANNEL, contact)} is not allowed`)}
        </strong>
        {' — '}
        {label(CONTACT_REASON, reason)} <code>{reason}</code>
      </p>
    );
  } else if (err) {
    body = isForbidden(err) ? <Forbidden /> : <ErrorBanner error={err} />;
  } else {
    body = <span />;
  }
  return (
    <div class="ops-may" data-testid="may-contact" role="region" aria-label={t('营销联系检查', 'Marketing contact check')} aria-live="polite">
      {body}
    </div>
  );
}

// ---- log an interaction ----

interface InteractionValues {
  channel: string;
  type: string;
  direction: string;
  subject: string;
  notes: string;
  outcome: string;
  satisfaction: string;
  followUpAt: string;
}

const INTERACTION_INITIAL: InteractionValues = {
  channel: 'BRANCH',
  type: 'INQUIRY',
  direction: 'INBOUND',
  subject: '',
  notes: '',
  outcome: '',
  satisfaction: '',
  followUpAt: '',
};

/** The hub's input field -> the control's id (also the `error-<id>` test hook). */
const INTERACTION_IDS: Record<string, string> = {
  channel: 'channel',
  type: 'type',
  direction: 'direction',
  subject: 'subject',
  notes: 'notes',
  outcome: 'outcome',
  satisfaction: 'satisfaction',
  followUpAt: 'followUpAt',
};

function InteractionForm(p: { cif: string; version: number; onLogged: () => void }): JSX.Element | null {
  useLang();
  const f = useDraftForm<InteractionValues>('interaction', p.cif, INTERACTION_INITIAL);
  const [refused, setRefused] = useState<GqlError | null>(null);
  const [checkVersion, setCheckVersion] = useState(0);
  // what the role may not do is not offered (the hub refuses it anyway)
  if (!mayRead('Mutation.logInteraction')) return null;
  const v = f.v;
  const err = (id: string) => f.out.fields[id];
  const onText = (k: keyof InteractionValues) => (e: Event) => {
    f.update({ [k]: (e.currentTarget as HTMLInputElement).value } as Partial<InteractionValues>);
    if (k === 'type' || k === 'channel') setRefused(null);
  };

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    if (f.busy) return;
    // only what cannot be sent at all is checked here: an Int must be an integer
    const sat = v.satisfaction.trim();
    if (sat !== '' && !/^-?\d+$/.test(sat)) {
      f.setOut({ ...NO_OUTCOME, fields: { satisfaction: t('请输入整数', 'Enter a whole number') } });
      return;
    }
    const input: Record<string, unknown> = {
      customerId: p.cif,
      channel: v.channel,
      type: v.type,
      direction: v.direction,
      subject: v.subject,
      notes: v.notes.trim() ? v.notes : null,
      outcome: v.outcome || null,
      satisfaction: sat === '' ? null : parseInt(sat, 10),
      followUpAt: beijing(v.followUpAt),
    };
    const key = f.keyFor(input);
    f.setBusy(true);
    f.setOut(NO_OUTCOME);
    setRefused(null);
    try {
      const r = await gql<{ logInteraction: { id: string; occurredAt: string } | null }>(
        `mutation ConsoleLogInteraction($input: LogInteractionInput!, $key: String) {
          logInteraction(input: $input, idempotencyKey: $key) { id occurredAt } }`,
        { input, key },
      );
      const logged = r.data?.logInteraction;
      if (logged) {
        f.done(
          { ...INTERACTION_INITIAL, channel: v.channel, direction: v.direction },
          t(`已记录接触（${dateTime(logged.occurredAt)}）`, `Contact logged (${dateTime(logged.occurredAt)})`),
        );
        p.onLogged();
        return;
      }
      const withdrawn = r.errors.find((x) => x.extensions?.code === 'CONSENT_WITHDRAWN');
      if (withdrawn) {
        setRefused(withdrawn);
        setCheckVersion((n) => n + 1);
      }
      f.setOut(sortErrors(r.errors, INTERACTION_IDS));
    } catch (x) {
      if (!(x instanceof SessionExpired)) f.setOut({ ...NO_OUTCOME, failed: failure(x) });
    } finally {
      f.setBusy(false);
    }
  }

  return (
    <section class="ops-card" aria-labelledby="log-h">
      <h2 id="log-h">{t('记录接触', 'Log a contact')}</h2>
      {f.restored ? <p class="ops-muted">{t('已恢复未提交的草稿', 'Unsent draft restored')}</p> : null}
      <form data-testid="form-interaction" class="ops-form" onSubmit={submit} noValidate>
        <div class="ops-grid">
          <Field id="channel" label={t('渠道', 'Channel')} error={err('channel')}>
            <select value={v.channel} onChange={onText('channel')} name="channel">
              {enumOptions(INTERACTION_CHANNEL)}
            </select>
          </Field>
          <Field id="type" label={t('类型', 'Type')} error={err('type')}>
            <select value={v.type} onChange={onText('type')} name="type">
              {enumOptions(INTERACTION_TYPE)}
            </select>
          </Field>
          <Field id="direction" label={t('方向', 'Direction')} error={err('direction')}>
            <select value={v.direction} onChange={onText('direction')} name="direction">
              {enumOptions(INTERACTION_DIRECTION)}
            </select>
          </Field>
          <Field id="outcome" label={t('结果', 'Outcome')} error={err('outcome')}>
            <select value={v.outcome} onChange={onText('outcome')} name="outcome">
              <option value="">{t('（无）', '(none)')}</option>
              {enumOptions(INTERACTION_OUTCOME)}
            </select>
          </Field>
          <Field id="satisfaction" label={t('满意度（1–5）', 'Satisfaction (1–5)')} error={err('satisfaction')}>
            <input type="number" inputMode="numeric" value={v.satisfaction} onInput={onText('satisfaction')} name="satisfaction" />
          </Field>
          <Field id="followUpAt" label={t('跟进时间（北京时间）', 'Follow-up (Beijing time)')} error={err('followUpAt')}>
            <input type="datetime-local" value={v.followUpAt} onInput={onText('followUpAt')} name="followUpAt" />
          </Field>
        </div>
        {v.type === 'MARKETING' ? <MayContact cif={p.cif} channel={v.channel} version={p.version + checkVersion} refused={refused} /> : null}
        <Field id="subject" label={t('主题', 'Subject')} error={err('subject')}>
          <input type="text" value={v.subject} onInput={onText('subject')} name="subject" autoComplete="off" />
        </Field>
        {mayRead('Interaction.notes') ? (
          <Field id="notes" label={t('备注', 'Notes')} error={err('notes')}>
            <textarea rows={3} value={v.notes} onInput={onText('notes')} name="notes" />
          </Field>
        ) : null}
        {refused ? (
          <div class="banner banner-error" role="alert" data-testid="form-interaction-refused" data-code="CONSENT_WITHDRAWN">
            <strong>{t('营销联系被拒绝', 'Marketing contact refused')}</strong>{' '}
            {label(CONTACT_REASON, String(refused.extensions?.reason ?? 'CONSENT_WITHDRAWN'))} — {refused.message}
          </div>
        ) : (
          <FormError out={f.out} />
        )}
        <div class="ops-actions">
          <button type="submit" class="btn btn-primary" data-testid="form-interaction-submit" disabled={f.busy}>
            {f.busy ? t('提交中…', 'Submitting…') : t('记录接触', 'Log contact')}
          </button>
        </div>
        <Ok out={f.out} />
      </form>
    </section>
  );
}

// ---- record a consent ----

interface ConsentValues {
  purpose: string;
  channel: string;
  granted: string;
  source: string;
  evidence: string;
}

const CONSENT_INITIAL: ConsentValues = { purpose: 'MARKETING', channel: 'SMS', granted: 'true', source: 'BRANCH', evidence: '' };
const CONSENT_IDS: Record<string, string> = {
  purpose: 'consent-purpose',
  channel: 'consent-channel',
  granted: 'consent-granted',
  source: 'consent-source',
  evidence: 'consent-evidence',
};

function ConsentForm(p: { cif: string; onRecorded: () => void }): JSX.Element {
  useLang();
  const f = useDraftForm<ConsentValues>('consent', p.cif, CONSENT_INITIAL);
  const v = f.v;
  const err = (k: string) => f.out.fields[CONSENT_IDS[k]];
  const on = (k: keyof ConsentValues) => (e: Event) =>
    f.update({ [k]: (e.currentTarget as HTMLInputElement).value } as Partial<ConsentValues>);

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    if (f.busy) return;
    const input = {
      customerId: p.cif,
      purpose: v.purpose,
      channel: v.channel,
      granted: v.granted === 'true',
      source: v.source,
      evidence: v.evidence.trim() ? v.evidence : null,
    };
    const key = f.keyFor(input);
    f.setBusy(true);
    f.setOut(NO_OUTCOME);
    try {
      const r = await gql<{ recordConsent: { id: string; granted: boolean } | null }>(
        `mutation ConsoleRecordConsent($input: RecordConsentInput!, $key: String) {
          recordConsent(input: $input, idempotencyKey: $key) { id granted recordedAt } }`,
        { input, key },
      );
      if (r.data?.recordConsent) {
        f.done(
          { ...CONSENT_INITIAL, purpose: v.purpose, channel: v.channel, source: v.source },
          r.data.recordConsent.granted ? t('已记录同意', 'Consent recorded') : t('已记录撤回', 'Withdrawal recorded'),
        );
        p.onRecorded();
        return;
      }
      f.setOut(sortErrors(r.errors, CONSENT_IDS));
    } catch (x) {
      if (!(x instanceof SessionExpired)) f.setOut({ ...NO_OUTCOME, failed: failure(x) });
    } finally {
      f.setBusy(false);
    }
  }

  return (
    <form data-testid="form-consent" class="ops-form" onSubmit={submit} noValidate aria-labelledby="consent-form-h">
      <h3 id="consent-form-h">{t('记录同意或撤回', 'Record a consent or withdrawal')}</h3>
      <div class="ops-grid">
        <Field id="consent-purpose" label={t('目的', 'Purpose')} error={err('purpose')}>
          <select value={v.purpose} onChange={on('purpose')} name="purpose">
            {enumOptions(CONSENT_PURPOSE)}
          </select>
        </Field>
        <Field id="consent-channel" label={t('联系渠道', 'Contact channel')} error={err('channel')}>
          <select value={v.channel} onChange={on('channel')} name="channel">
            {enumOptions(CONTACT_CHANNEL)}
          </select>
        </Field>
        <Field id="consent-granted" label={t('同意或撤回', 'Consent')} error={err('granted')}>
          <select value={v.granted} onChange={on('granted')} name="granted">
            <option value="true">{t('同意', 'Granted')}</option>
            <option value="false">{t('撤回', 'Withdrawn')}</option>
          </select>
        </Field>
        <Field id="consent-source" label={t('客户表达的渠道', 'Where the customer said so')} error={err('source')}>
          <select value={v.source} onChange={on('source')} name="source">
            {enumOptions(INTERACTION_CHANNEL)}
          </select>
        </Field>
      </div>
      <Field id="consent-evidence" label={t('凭证（签字表单、通话录音编号等）', 'Evidence (signed form, call recording…)')} error={err('evidence')}>
        <input type="text" value={v.evidence} onInput={on('evidence')} name="evidence" autoComplete="off" />
      </Field>
      <FormError out={f.out} />
      <div class="ops-actions">
        <button type="submit" class="btn btn-primary" data-testid="form-consent-submit" disabled={f.busy}>
          {f.busy ? t('提交中…', 'Submitting…') : t('记录', 'Record')}
        </button>
      </div>
      <Ok out={f.out} />
    </form>
  );
}

// ---- contact preferences ----

interface PrefValues {
  preferredChannel: string;
  quietHoursStart: string;
  quietHoursEnd: string;
  doNotContact: boolean;
  source: string;
}

const PREF_INITIAL: PrefValues = { preferredChannel: '', quietHoursStart: '', quietHoursEnd: '', doNotContact: false, source: 'BRANCH' };
const PREF_IDS: Record<string, string> = {
  preferredChannel: 'pref-preferredChannel',
  quietHoursStart: 'pref-quietHoursStart',
  quietHoursEnd: 'pref-quietHoursEnd',
  doNotContact: 'pref-doNotContact',
  source: 'pref-source',
};

function PreferencesForm(p: { cif: string; current: Prefs | null; onRecorded: () => void }): JSX.Element {
  useLang();
  const f = useDraftForm<PrefValues>('preferences', p.cif, PREF_INITIAL);
  const v = f.v;
  const touched = useRef(f.restored);
  // start from what is recorded, unless a draft was restored or the user typed
  useEffect(() => {
    const c = p.current;
    if (!c || touched.current) return;
    f.update({
      preferredChannel: c.preferredChannel ?? '',
      quietHoursStart: c.quietHoursStart ?? '',
      quietHoursEnd: c.quietHoursEnd ?? '',
      doNotContact: c.doNotContact,
    }, true);
    clearDraft('preferences'); // a copy of the record is not a draft
  }, [p.current]);
  const err = (k: string) => f.out.fields[PREF_IDS[k]];
  const on = (k: keyof PrefValues) => (e: Event) => {
    touched.current = true;
    const el = e.currentTarget as HTMLInputElement;
    f.update({ [k]: el.type === 'checkbox' ? el.checked : el.value } as Partial<PrefValues>);
  };

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    if (f.busy) return;
    const input = {
      customerId: p.cif,
      preferredChannel: v.preferredChannel || null,
      quietHoursStart: v.quietHoursStart || null,
      quietHoursEnd: v.quietHoursEnd || null,
      doNotContact: v.doNotContact,
      source: v.source,
    };
    const key = f.keyFor(input);
    f.setBusy(true);
    f.setOut(NO_OUTCOME);
    try {
      const r = await gql<{ recordContactPreferences: { recordedAt: string } | null }>(
        `mutation ConsoleRecordPreferences($input: ContactPreferencesInput!, $key: String) {
          recordContactPreferences(input: $input, idempotencyKey: $key) { recordedAt } }`,
        { input, key },
      );
      if (r.data?.recordContactPreferences) {
        touched.current = false;
        f.done({ ...v }, t('已记录联系偏好', 'Preferences recorded'));
        p.onRecorded();
        return;
      }
      f.setOut(sortErrors(r.errors, PREF_IDS));
    } catch (x) {
      if (!(x instanceof SessionExpired)) f.setOut({ ...NO_OUTCOME, failed: failure(x) });
    } finally {
      f.setBusy(false);
    }
  }

  return (
    <form data-testid="form-preferences" class="ops-form" onSubmit={submit} noValidate aria-labelledby="pref-form-h">
      <h3 id="pref-form-h">{t('更新联系偏好', 'Update contact preferences')}</h3>
      <div class="ops-grid">
        <Field id="pref-preferredChannel" label={t('首选渠道', 'Preferred channel')} error={err('preferredChannel')}>
          <select value={v.preferredChannel} onChange={on('preferredChannel')} name="preferredChannel">
            <option value="">{t('（无）', '(none)')}</option>
            {enumOptions(CONTACT_CHANNEL)}
          </select>
        </Field>
        <Field id="pref-quietHoursStart" label={t('免打扰开始（北京时间）', 'Quiet hours from (Beijing)')} error={err('quietHoursStart')}>
          <input type="time" value={v.quietHoursStart} onInput={on('quietHoursStart')} name="quietHoursStart" />
        </Field>
        <Field id="pref-quietHoursEnd" label={t('免打扰结束（北京时间）', 'Quiet hours until (Beijing)')} error={err('quietHoursEnd')}>
          <input type="time" value={v.quietHoursEnd} onInput={on('quietHoursEnd')} name="quietHoursEnd" />
        </Field>
        <Field id="pref-source" label={t('客户表达的渠道', 'Where the customer said so')} error={err('source')}>
          <select value={v.source} onChange={on('source')} name="source">
            {enumOptions(INTERACTION_CHANNEL)}
          </select>
        </Field>
      </div>
      <div class={err('doNotContact') ? 'field field-invalid ops-check' : 'field ops-check'}>
        <input
          type="checkbox"
          id="pref-doNotContact"
          checked={v.doNotContact}
          onChange={on('doNotContact')}
          name="doNotContact"
          aria-describedby={err('doNotContact') ? 'pref-doNotContact-error' : undefined}
        />
        <label for="pref-doNotContact">{t('客户拒绝一切营销联系', 'The customer asks not to be contacted for marketing')}</label>
        {err('doNotContact') ? (
          <p id="pref-doNotContact-error" class="field-error" data-testid="error-pref-doNotContact" role="alert">
            {err('doNotContact')}
          </p>
        ) : null}
      </div>
      <FormError out={f.out} />
      <div class="ops-actions">
        <button type="submit" class="btn btn-primary" data-testid="form-preferences-submit" disabled={f.busy}>
          {f.busy ? t('提交中…', 'Submitting…') : t('保存偏好', 'Save preferences')}
        </button>
      </div>
      <Ok out={f.out} />
    </form>
  );
}
