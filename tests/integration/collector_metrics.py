#!/usr/bin/env python3
# collector_metrics — GET /metrics is served only on the metrics listener (plain HTTP,
# loopback only) and refused on the enrollment and agent ports; a configuration that
# would put the metrics listener on a network address is refused.
# timeout: 60
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import COLLECTOR, Collector, Test, free_port  # noqa: E402

t = Test()
c = Collector(t)
c.start()
a = c.enroll()
c.request('POST', '/v1/heartbeat', {'posture': {}}, agent=a)

status, text = c.metrics_request('/metrics')
t.check('metrics listener (127.0.0.1, plain HTTP): GET /metrics 200 with the counters',
        status == 200 and 'hogo_collector_requests_total{endpoint="heartbeat",code="200"} 1' in text,
        (status, text[:300]))
status, text = c.metrics_request('/healthz')
t.check('metrics listener: GET /healthz 200', status == 200, (status, text))
status, text = c.metrics_request('/v1/heartbeat')
t.check('metrics listener serves nothing else (404)', status == 404, (status, text))

status, body = c.request('GET', '/metrics', port=c.enroll_port)
t.check('enrollment port (anyone can connect): GET /metrics refused 404',
        status == 404 and isinstance(body, dict) and body.get('error') == 'wrong_listener'
        and 'listen.metrics' in body.get('message', ''), (status, body))
status, body = c.request('GET', '/metrics', agent=a)
t.check('agent port (an enrolled agent): GET /metrics refused 404',
        status == 404 and isinstance(body, dict) and body.get('error') == 'wrong_listener', (status, body))
t.check('the refusals were logged', c.log_text().count('GET /metrics from') >= 2,
        c.log_text()[-600:])


def other_addresses():
    """This machine's non-loopback IPv4 addresses."""
    out = subprocess.run(['ip', '-4', '-o', 'addr', 'show'], capture_output=True, text=True).stdout
    return [f.split('/')[0] for line in out.splitlines() for f in line.split()[3:4]
            if not f.startswith('127.')]


addrs = other_addresses()
if addrs:
    try:
        socket.create_connection((addrs[0], c.metrics_port), timeout=2).close()
        reached = True
    except OSError:
        reached = False
    t.check('metrics port not reachable on %s (bound to loopback only)' % addrs[0], not reached)
else:
    t.check('metrics port not reachable from the network (no non-loopback address; skipped)', True)

# A metrics address off loopback is a configuration error, checked by -n.
with open(c.config) as f:
    cfg = json.load(f)
for bad in ('0.0.0.0:%d' % free_port(), '[::]:%d' % free_port()):
    cfg['listen']['metrics'] = [bad]
    path = os.path.join(t.dir, 'bad-metrics.json')
    with open(path, 'w') as f:
        json.dump(cfg, f)
    r = subprocess.run([COLLECTOR, '-n', '-c', path], capture_output=True, text=True)
    t.check('listen.metrics %s refused by -n: not a loopback address' % bad,
            r.returncode == 1 and 'is not a loopback address' in r.stderr, r.stderr)

# Without listen.metrics the default is loopback 9442; an empty list turns metrics off.
cfg['listen']['metrics'] = []
path = os.path.join(t.dir, 'no-metrics.json')
with open(path, 'w') as f:
    json.dump(cfg, f)
r = subprocess.run([COLLECTOR, '-n', '-c', path], capture_output=True, text=True)
t.check('listen.metrics [] (no metrics listener) is a valid configuration',
        r.returncode == 0 and 'configuration OK' in r.stdout, r.stdout + r.stderr)

c.stop()
t.finish()
