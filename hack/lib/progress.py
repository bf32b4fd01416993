#!/usr/bin/env python3
"""Progress of a hack/scale.sh run, read from the operator's own /metrics twice a second by one
long-lived process. The shell pipeline it replaces (curl | grep | awk | grep | sort | wc, forked on
every poll) cost about 33 ms of CPU per poll on the two cores being measured: some 8 CPU-seconds over
a 1,000-RSA-set convergence, charged to the run it was timing. This costs about a quarter of that,
most of it the operator rendering /metrics (about 5 ms for 1,000 sets).

usage: progress.py URL PID N GOAL...
GOALs, reached in order (each printed as "GOAL <unix time>" when reached):
  published  N sets have a Pending or Active key (their JWKS is published)
  ready      N sets have keyrotator_signingkeyset_ready 1
  signing    N sets have an Active key and the work queue is empty
  rotated    N sets have a Retiring key (after a rotation storm)
At the end it prints "peak_mb <the operator's peak resident memory while polling>" and
"poller <polls> <its own CPU seconds>".
It exits 1 if the operator process exits first."""
import http.client, os, re, sys, time, urllib.parse

url, pid, n, goals = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
parsed = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
NAME = re.compile(rb'name="([^"]*)"')
STATE = re.compile(rb'state="([^"]*)"')

def scrape():
    global conn
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        return response.read() if response.status == 200 else b""
    except (OSError, http.client.HTTPException):
        conn.close()
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        return b""

def sets_with(lines, metric, states=None):
    """Distinct set names with a sample of METRIC above 0 (in one of STATES, when given)."""
    prefix = metric + b"{"
    names = set()
    for line in lines:
        if not line.startswith(prefix):
            continue
        head, _, value = line.rpartition(b" ")
        try:
            if float(value) <= 0:
                continue
        except ValueError:
            continue
        if states is not None:
            state = STATE.search(head)
            if state is None or state.group(1) not in states:
                continue
        name = NAME.search(head)
        if name:
            names.add(name.group(1))
    return len(names)

def reached(goal, lines):
    if goal == "published":
        return sets_with(lines, b"keyrotator_keys", {b"Pending", b"Active"}) >= n
    if goal == "ready":
        return sets_with(lines, b"keyrotator_signingkeyset_ready") >= n
    if goal == "signing":
        return b"keyrotator_workqueue_depth 0" in lines and sets_with(lines, b"keyrotator_keys", {b"Active"}) >= n
    if goal == "rotated":
        return sets_with(lines, b"keyrotator_keys", {b"Retiring"}) >= n
    sys.exit(f"unknown goal {goal}")

def rss_mb():
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0

peak = 0
polls = 0
pending = list(goals)
while pending:
    try:
        os.kill(pid, 0)
    except OSError:
        print(f"error: the operator (pid {pid}) exited", file=sys.stderr)
        sys.exit(1)
    peak = max(peak, rss_mb())
    lines = scrape().split(b"\n")
    polls += 1
    while pending and reached(pending[0], lines):
        print(f"{pending.pop(0)} {time.time():.3f}", flush=True)
    if pending:
        time.sleep(0.5)
print(f"peak_mb {max(peak, rss_mb())}", flush=True)
cpu = os.times()
print(f"poller {polls} {cpu.user + cpu.system:.2f}", flush=True)
