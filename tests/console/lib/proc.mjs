// Child processes of the suite: each in a process group of its own (so that killing
// the group also ends whatever it started), its output kept for error messages, and
// a wait for lines on stdout with a bounded timeout.
import { spawn } from 'node:child_process';

const running = new Set();

/** Ends every process this module started; registered on exit as a last resort. */
export function killAll() {
  for (const p of running) p.kill();
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

export class Proc {
  /**
   * @param {string} name  for messages
   * @param {string} cmd
   * @param {string[]} args
   * @param {{env?: Record<string,string>, cwd?: string}} [opts]
   */
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.command = [cmd, ...args].join(' ');
    this.stdout = '';
    this.stderr = '';
    this.exited = null;
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: kill(-pid) reaches its children too
    });
    running.add(this);
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.listeners = [];
    this.child.stdout.on('data', (chunk) => {
      this.stdout += chunk;
      for (const l of this.listeners) l();
    });
    this.child.stderr.on('data', (chunk) => {
      // Keep the tail only: a hub logs a line per request.
      this.stderr = (this.stderr + chunk).slice(-64 * 1024);
    });
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        for (const l of this.listeners) l();
        resolve(this.exited);
      });
      this.child.on('error', (error) => {
        this.exited = { code: null, signal: null, error };
        running.delete(this);
        for (const l of this.listeners) l();
        resolve(this.exited);
      });
    });
  }

  /** What the process said, for a failure message. */
  said() {
    return `--- ${this.name} (${this.command})\n--- stdout:\n${this.stdout}\n--- stderr (tail):\n${this.stderr.slice(-8000)}`;
  }

  /** Resolves once `done(stdout)` holds; fails loudly on exit or after `timeoutMs`. */
  waitFor(done, what, timeoutMs = 60_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        let value;
        try {
          value = done(this.stdout);
        } catch (e) {
          finish();
          reject(e);
          return;
        }
        if (value) {
          finish();
          resolve(value);
        } else if (this.exited) {
          finish();
          const how = this.exited.error ? `could not start (${this.exited.error.message})` : `exited (${JSON.stringify(this.exited)})`;
          reject(new Error(`${this.name} ${how} before ${what}\n${this.said()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${this.name} did not show ${what} within ${timeoutMs / 1000} s\n${this.said()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
      };
      this.listeners.push(check);
      check();
    });
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`. */
  async kill(graceMs = 5000) {
    if (this.exited) return this.exited;
    const signalGroup = (sig) => {
      try {
        process.kill(-this.child.pid, sig);
      } catch {
        try {
          this.child.kill(sig);
        } catch {
          /* gone */
        }
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    const result = await this.exitPromise;
    clearTimeout(timer);
    return result;
  }
}

/** Polls `url` until it answers 2xx; fails after `timeoutMs` with `proc`'s output. */
export async function waitForHttp(url, proc, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc?.exited) throw new Error(`${proc.name} exited before ${url} answered\n${proc.said()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return res;
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
    } catch (e) {
      last = String(e.cause?.message ?? e.message);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer 2xx within ${timeoutMs / 1000} s (last: ${last})\n${proc ? proc.said() : ''}`);
}
