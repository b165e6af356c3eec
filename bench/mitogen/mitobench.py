"""Mitogen side of the Spindle benchmark harness.

The Go harness runs `/usr/bin/python3 mitobench.py TARGET` (TARGET is JSON:
{"via": "local"}, {"via": "ssh", "host": ..., "port": ..., "user": ...,
"identity": ...} or {"via": "docker", "container": ...}; any of them may
carry "through": another TARGET, the intermediate the context is started
by: Mitogen's via=, opened once and kept warm) and drives it one round at a time: one JSON request per
line on stdin, one JSON answer per line on stdout, times in seconds. The
harness owns the plan (warm-up, rounds, sizes) and the statistics; this
script only does what it is asked and times it with perf_counter.

Requests and answers:
  {"op": "spawn", "n": N}        -> {"samples": [...]}  N contexts one after
                                    the other, each until its first reply
  {"op": "spawn_batch", "n": N}  -> {"seconds": s}      N contexts at once
                                    (one thread each) until the last reply
  {"op": "open"}                 -> {}                  the steady context
  {"op": "rtt", "n": N}          -> {"samples": [...]}  call(echo, 1)
  {"op": "oneway", "n": N}       -> {"seconds": s}      N call_no_reply(tick),
                                    then a call that returns the count
  {"op": "bulk", "n": N}         -> {"samples": [...]}  call(echo, 1 MiB)
  {"op": "close"}                   stops the contexts and exits
A failure answers {"error": "..."}.

"Until its first reply" means the first call of a function of this package
in the new context: Mitogen ships the module on that call, which is part of
what a user waits for.
"""

import json
import sys
import threading
import time

import mitogen.utils

import mitochild

BULK = 1 << 20


# The intermediates of "through" targets, opened once per process (warm).
_intermediates = {}


def intermediate(router, target):
    key = json.dumps(target, sort_keys=True)
    if key not in _intermediates:
        _intermediates[key] = start(router, target)
    return _intermediates[key]


def connect(router, target):
    python = target.get("python") or "/usr/bin/python3"
    kw = {}
    if target.get("through"):
        kw["via"] = intermediate(router, target["through"])
    if target["via"] == "ssh":
        return router.ssh(
            hostname=target["host"],
            port=target["port"],
            username=target["user"],
            identity_file=target["identity"],
            identities_only=True,
            check_host_keys="ignore",
            python_path=python,
            connect_timeout=30,
            **kw
        )
    if target["via"] == "docker":
        return router.docker(container=target["container"], python_path=python, **kw)
    return router.local(python_path=python, **kw)


def start(router, target):
    ctx = connect(router, target)
    ctx.call(mitochild.getpid)
    return ctx


def stop(ctx):
    ctx.shutdown(wait=True)


def spawn_round(router, target, n):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        ctx = start(router, target)
        samples.append(time.perf_counter() - t0)
        stop(ctx)
    return samples


def spawn_batch(router, target, n):
    ctxs = [None] * n
    errors = []

    def one(i):
        try:
            ctxs[i] = start(router, target)
        except Exception as e:  # reported once every thread is done
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
    return dt


def time_each(op, n):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    return samples


def one_way(ctx, n):
    t0 = time.perf_counter()
    for _ in range(n):
        ctx.call_no_reply(mitochild.tick)
    got = ctx.call(mitochild.how_many)
    dt = time.perf_counter() - t0
    if got != n:
        raise RuntimeError("counter saw %d of %d messages" % (got, n))
    return dt


class Server:
    def __init__(self, router, target):
        self.router = router
        self.target = target
        self.ctx = None
        self.payload = bytes(i % 251 for i in range(BULK))

    def bulk(self):
        back = self.ctx.call(mitochild.echo, self.payload)
        if len(back) != BULK:
            raise RuntimeError("bulk reply carried %d bytes" % len(back))

    def handle(self, op, n):
        if op == "spawn":
            return {"samples": spawn_round(self.router, self.target, n)}
        if op == "spawn_batch":
            return {"seconds": spawn_batch(self.router, self.target, n)}
        if op == "open":
            self.ctx = start(self.router, self.target)
            return {}
        if self.ctx is None:
            raise RuntimeError("%s before open" % op)
        if op == "rtt":
            return {"samples": time_each(lambda: self.ctx.call(mitochild.echo, 1), n)}
        if op == "oneway":
            return {"seconds": one_way(self.ctx, n)}
        if op == "bulk":
            return {"samples": time_each(self.bulk, n)}
        raise ValueError("unknown op %r" % op)

    def serve(self, inp, out):
        for line in inp:
            req = json.loads(line)
            if req["op"] == "close":
                break
            try:
                res = self.handle(req["op"], req.get("n", 0))
            except Exception as e:
                res = {"error": "%s: %s" % (type(e).__name__, e)}
            out.write(json.dumps(res) + "\n")
            out.flush()
        if self.ctx is not None:
            stop(self.ctx)
        for ctx in _intermediates.values():
            stop(ctx)


def main():
    target = json.loads(sys.argv[1])
    mitogen.utils.run_with_router(lambda router: Server(router, target).serve(sys.stdin, sys.stdout))


if __name__ == "__main__":
    main()
