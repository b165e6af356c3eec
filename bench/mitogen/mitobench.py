"""Mitogen side of the Spindle benchmark harness.

Run by the Go harness as `/usr/bin/python3 mitobench.py` with a plan (JSON)
on stdin; writes the raw measurements (JSON, times in seconds, grouped by
round, the shape of the harness's Raw type) on stdout. The workloads match
the Go systems':

- spawn: router.local() (or router.ssh()) and the first call of a function
  of this package in the new context (Mitogen ships the module on that
  first call, which is part of what a user waits for);
- spawn10: ten contexts created at once from ten threads, until the last
  has answered;
- rtt: context.call(echo, small int);
- oneway: context.call_no_reply(tick) n times, then a call that returns the
  count, so the time covers every message being processed;
- bulk: context.call(echo, 1 MiB of bytes), which returns the same bytes.
"""

import json
import sys
import threading
import time

import mitogen.master
import mitogen.utils

import mitochild

BULK = 1 << 20


def connect(router, target):
    if target["via"] == "ssh":
        return router.ssh(
            hostname=target["host"],
            port=target["port"],
            username=target["user"],
            identity_file=target["identity"],
            identities_only=True,
            check_host_keys="ignore",
            python_path=target.get("python", "/usr/bin/python3"),
            connect_timeout=30,
        )
    return router.local(python_path=target.get("python", "/usr/bin/python3"))


def start(router, target):
    ctx = connect(router, target)
    ctx.call(mitochild.getpid)
    return ctx


def stop(ctx):
    ctx.shutdown(wait=True)


def run_spawn(router, target, plan):
    for _ in range(plan["spawn_warmup"]):
        stop(start(router, target))
    rounds = []
    for _ in range(plan["rounds"]):
        samples = []
        for _ in range(plan["spawn_per_round"]):
            t0 = time.perf_counter()
            ctx = start(router, target)
            samples.append(time.perf_counter() - t0)
            stop(ctx)
        rounds.append(samples)
    return rounds


def run_spawn_batch(router, target, plan):
    out = []
    for _ in range(plan["spawn10_rounds"]):
        n = plan["spawn_batch"]
        ctxs = [None] * n
        errors = []

        def one(i):
            try:
                ctxs[i] = start(router, target)
            except Exception as e:  # reported after the round
                errors.append(e)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dt = time.perf_counter() - t0
        for c in ctxs:
            if c is not None:
                stop(c)
        if errors:
            raise errors[0]
        out.append(dt)
    return out


def time_each(op, warmup, rounds, per_round):
    for _ in range(warmup):
        op()
    out = []
    for _ in range(rounds):
        samples = []
        for _ in range(per_round):
            t0 = time.perf_counter()
            op()
            samples.append(time.perf_counter() - t0)
        out.append(samples)
    return out


def one_way(ctx, n):
    for _ in range(n):
        ctx.call_no_reply(mitochild.tick)
    got = ctx.call(mitochild.how_many)
    if got != n:
        raise RuntimeError("counter saw %d of %d messages" % (got, n))


def run_one_way(ctx, plan, log):
    cal = plan["oneway_calibrate"]
    t0 = time.perf_counter()
    one_way(ctx, cal)
    dt = time.perf_counter() - t0
    n = int(cal / dt * plan["oneway_round_s"]) if dt > 0 else plan["oneway_max"]
    n = max(cal, min(n, plan["oneway_max"]))
    log("one-way %d x%d" % (n, plan["rounds"]))
    out = []
    for _ in range(plan["rounds"]):
        t0 = time.perf_counter()
        one_way(ctx, n)
        out.append({"n": n, "seconds": time.perf_counter() - t0})
    return out


def bench(router, req):
    plan, target, work = req["plan"], req["target"], req["workloads"]

    def log(msg):
        print("mitogen: " + msg, file=sys.stderr, flush=True)

    raw = {"spawn": None, "spawn10": None, "rtt": None, "oneway": None, "bulk": None}
    if work.get("spawn"):
        log("spawn x%d" % (plan["spawn_warmup"] + plan["rounds"] * plan["spawn_per_round"]))
        raw["spawn"] = run_spawn(router, target, plan)
    if work.get("spawn10"):
        log("spawn %d at once x%d" % (plan["spawn_batch"], plan["spawn10_rounds"]))
        raw["spawn10"] = run_spawn_batch(router, target, plan)
    if work.get("rtt") or work.get("oneway") or work.get("bulk"):
        ctx = start(router, target)
        try:
            if work.get("rtt"):
                log("round trips %d x%d" % (plan["rtt_per_round"], plan["rounds"]))
                raw["rtt"] = time_each(lambda: ctx.call(mitochild.echo, 1),
                                       plan["rtt_warmup"], plan["rounds"], plan["rtt_per_round"])
            if work.get("oneway"):
                raw["oneway"] = run_one_way(ctx, plan, log)
            if work.get("bulk"):
                payload = bytes(i % 251 for i in range(BULK))

                def bulk():
                    back = ctx.call(mitochild.echo, payload)
                    if len(back) != BULK:
                        raise RuntimeError("bulk reply carried %d bytes" % len(back))

                log("1 MiB round trips %d x%d" % (plan["bulk_per_round"], plan["rounds"]))
                raw["bulk"] = time_each(bulk, plan["bulk_warmup"], plan["rounds"], plan["bulk_per_round"])
        finally:
            stop(ctx)
    return raw


def main():
    req = json.load(sys.stdin)
    raw = mitogen.utils.run_with_router(bench, req)
    json.dump(raw, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
