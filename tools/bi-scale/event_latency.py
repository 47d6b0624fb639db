#!/usr/bin/env python3
"""The time from a change made in the sandbox to the answers of every hub.

Each round moves a customer's balance by 1.00 through `POST /_sandbox/changes` (the
sandbox publishes the change on the broker, confirmed, before it answers), then polls
each hub's `customer` answer, one thread per hub, until it shows the new balance.
The hubs answered the customer from their cache tiers just before, so what changes
their answer is the event. Prints, per hub, the median, 90th percentile and
maximum over the rounds, counted from just before the change was posted.

Then a burst (`--burst N`): N changes posted from 32 threads while the hub processes
(`--pause-pids`) are stopped (SIGSTOP), so that the events wait in the queue, then the
time from resuming them until they have applied them all
(`c360_feed_events_total{outcome="applied"}` in their `/metrics`): how many events a
second the hubs drain, each invalidating the tiers and recomputing a snapshot row.
"""
import os
import signal
import argparse
import concurrent.futures
import json
import random
import statistics
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal

QUERY = "query($id: ID!) { customer(id: $id) { accounts { balance { amount } } } }"


def call(url, body, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def total(hub, token, cif):
    answer = call(f"{hub}/graphql", {"query": QUERY, "variables": {"id": cif}}, token)
    accounts = (answer.get("data") or {}).get("customer") or {}
    accounts = accounts.get("accounts")
    if not accounts:
        return None
    return sum(Decimal(a["balance"]["amount"]) for a in accounts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", nargs="+", required=True)
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--token", required=True, help="a token that may read customers")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=10.0, help="seconds to wait a round")
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--pause-pids", type=int, nargs="*", default=[])
    args = parser.parse_args()
    seen = {hub: [] for hub in args.hubs}
    rounds = 0
    while rounds < args.rounds:
        cif = str(1_000_000_000 + random.randint(1, args.customers))
        before = {hub: total(hub, args.token, cif) for hub in args.hubs}
        if None in before.values():
            continue  # a customer without accounts
        for hub in args.hubs:  # from the tiers now
            total(hub, args.token, cif)
        expected = before[args.hubs[0]] + Decimal("1.00")
        started = time.perf_counter()
        try:
            call(f"{args.sandbox}/_sandbox/changes",
                 {"cif": cif, "kind": "balance", "delta": "1.00"})
        except urllib.error.HTTPError as e:
            raise SystemExit(f"the sandbox refused the change: {e.read().decode()}")

        def poll(hub):
            while time.perf_counter() - started < args.limit:
                if total(hub, args.token, cif) == expected:
                    seen[hub].append((time.perf_counter() - started) * 1000)
                    return
            raise SystemExit(f"{hub} did not show the change within {args.limit}s")

        threads = [threading.Thread(target=poll, args=(hub,)) for hub in args.hubs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rounds += 1
    for hub, times in seen.items():
        times.sort()
        p90 = times[int(len(times) * 0.9) - 1]
        print(f"{hub}: {len(times)} changes, event to answer p50 "
              f"{statistics.median(times):.1f} ms, p90 {p90:.1f} ms, max {times[-1]:.1f} ms")
    if args.burst:
        burst(args)


def applied(hubs):
    count = 0.0
    for hub in hubs:
        with urllib.request.urlopen(f"{hub}/metrics", timeout=10) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith("c360_feed_events_total{") and 'outcome="applied"' in line:
                count += float(line.rsplit(" ", 1)[1])
    return count


def burst(args):
    before = applied(args.hubs)
    cifs = [str(1_000_000_000 + random.randint(1, args.customers)) for _ in range(args.burst)]

    def change(cif):
        try:
            call(f"{args.sandbox}/_sandbox/changes", {"cif": cif, "kind": "balance", "delta": "1.00"})
            return 1
        except urllib.error.HTTPError:
            return 0  # a customer without accounts

    for pid in args.pause_pids:
        os.kill(pid, signal.SIGSTOP)
    posting = time.perf_counter()
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            made = sum(pool.map(change, cifs))
    finally:
        for pid in args.pause_pids:
            os.kill(pid, signal.SIGCONT)
    started = time.perf_counter()
    posted = started - posting
    while applied(args.hubs) - before < made:
        if time.perf_counter() - started > 600:
            raise SystemExit("the hubs did not apply the burst within 10 minutes")
        time.sleep(0.05)
    took = time.perf_counter() - started
    waiting = "waiting in the queue" if args.pause_pids else "as they came"
    print(f"burst: {made} changes posted in {posted:.1f} s ({waiting}), all applied "
          f"{took:.1f} s later: {made / took:.0f} events/s")


if __name__ == "__main__":
    main()
