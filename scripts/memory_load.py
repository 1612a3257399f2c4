#!/usr/bin/env python3
"""Memory under load: posts events to a real `seen serve` and samples its RSS during and after.

Starts the given binary (default: target/release/seen) on a fresh SQLite file, creates an API key, runs
CLIENTS concurrent clients posting EVENTS events in batches of BATCH, sampling /proc/PID/status (VmRSS,
VmHWM, RssAnon, RssFile) every SAMPLE seconds, then keeps sampling for IDLE seconds after the last post.
Prints one line per sample and a summary: start, peak and idle RSS. Not a test: numbers go to BENCHMARKS.md.

    nice -n 5 python3 scripts/memory_load.py [--binary target/release/seen] [--events 400000]
        [--clients 8] [--batch 100] [--idle 30] [--customers 40000] [--metrics] [--types purchase]

Only stdlib; every request goes to 127.0.0.1.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

TYPES = ["message.received", "message.sent", "order.placed", "order.confirmed", "visit.queued", "visit.served"]


def status_kb(pid):
    """VmRSS, VmHWM, RssAnon, RssFile of a process, in kB (None for a missing field)."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                fields[name] = int(rest.split()[0])
    return fields


def make_batches(events, batch, customers, run, types=TYPES):
    """Deterministic events: customers take turns, times rise, so most batches take the fast path."""
    base = 1_700_000_000
    bodies = []
    for start in range(0, events, batch):
        items = []
        for n in range(start, min(start + batch, events)):
            customer = n % customers
            step = n // customers
            items.append({
                "id": f"load-{run}-{n}",
                "customer": f"c{customer}",
                "type": types[(customer + step) % len(types)],
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + n)),
                "channel": "email",
                "properties": {"note": "x" * 40, "n": n},
            })
        bodies.append(json.dumps(items).encode())
    return bodies


def client(host, port, key, bodies, errors):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    for body in bodies:
        conn.request("POST", "/v1/events", body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            errors.append(response.status)
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="target/release/seen")
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--customers", type=int, default=40_000)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--sample", type=float, default=1.0)
    parser.add_argument("--types", help="comma-separated event types to cycle through (default: six, one of them a purchase)")
    parser.add_argument("--db", help="SQLite file (default: a fresh one in a temp folder)")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="seen-memory-")
    db = args.db or os.path.join(workdir, "seen.db")
    binary = os.path.abspath(args.binary)
    key = subprocess.run([binary, "--db", db, "keys", "create", "load"], check=True,
                         capture_output=True, text=True).stdout.strip()
    env = dict(os.environ, SEEN_LOG=os.environ.get("SEEN_LOG", "warn"))
    server = subprocess.Popen([binary, "--db", db, "serve", "--listen", "127.0.0.1:0"], env=env,
                              stdout=subprocess.PIPE, stderr=open(os.path.join(workdir, "serve.log"), "w"),
                              text=True, cwd=workdir)
    try:
        line = server.stdout.readline()
        address = line.strip().rsplit(" ", 1)[-1].removeprefix("http://")
        host, port = address.rsplit(":", 1)
        time.sleep(1.0)
        bodies = make_batches(args.events, args.batch, args.customers, os.getpid(), args.types.split(",") if args.types else TYPES)
        print(f"# {args.events} events, {len(bodies)} batches of {args.batch}, {args.clients} clients, "
              f"server pid {server.pid}, db {db}", flush=True)
        start = status_kb(server.pid)
        print("# t_s\tphase\tVmRSS_MB\tVmHWM_MB\tRssAnon_MB\tRssFile_MB\tthreads", flush=True)
        errors = []
        threads = [threading.Thread(target=client, args=(host, int(port), key, bodies[i::args.clients], errors))
                   for i in range(args.clients)]
        began = time.monotonic()
        for t in threads:
            t.start()
        samples = []

        def sample(phase):
            s = status_kb(server.pid)
            samples.append((phase, s))
            print(f"{time.monotonic() - began:.1f}\t{phase}\t{s['VmRSS'] / 1024:.1f}\t{s['VmHWM'] / 1024:.1f}\t"
                  f"{s['RssAnon'] / 1024:.1f}\t{s['RssFile'] / 1024:.1f}\t{s['Threads']}", flush=True)

        while any(t.is_alive() for t in threads):
            sample("load")
            time.sleep(args.sample)
        loaded = time.monotonic() - began
        idle_until = time.monotonic() + args.idle
        while time.monotonic() < idle_until:
            sample("idle")
            time.sleep(args.sample)
        final = samples[-1][1]
        print(f"# posted in {loaded:.1f} s ({args.events / loaded:.0f} events/s), {len(errors)} failed batches")
        print(f"# start RSS {start['VmRSS'] / 1024:.0f} MB; peak (VmHWM) {final['VmHWM'] / 1024:.0f} MB; "
              f"idle after {args.idle:.0f} s {final['VmRSS'] / 1024:.0f} MB "
              f"(anon {final['RssAnon'] / 1024:.0f} MB, file {final['RssFile'] / 1024:.0f} MB)")
        return 1 if errors else 0
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
