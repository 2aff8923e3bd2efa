#!/usr/bin/env python3
# collector_heartbeat — heartbeats answered early and coalesced per terminal keep their
# promise: after a burst on a kept-alive connection (and a second terminal's burst in
# parallel) the store holds each terminal's LAST posture, never a mix, and a newer
# posture sent after the writer took the last one is stored too.
# timeout: 60
import email.utils
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import Collector, Test  # noqa: E402

t = Test()
c = Collector(t)
c.start()
agents = [c.enroll(hostname='pc-%d' % i) for i in range(2)]
N = 300


def burst(agent, results):
    conn = c.connection(agent)
    statuses = []
    for n in range(1, N + 1):
        body = {'posture': {'n': n, 'screen_lock': 'pass'}, 'policy_version': None}
        statuses.append(c.request('POST', '/v1/heartbeat', body, agent=agent, conn=conn)[0])
    conn.close()
    results[agent.id] = statuses


results = {}
threads = [threading.Thread(target=burst, args=(a, results)) for a in agents]
for th in threads:
    th.start()
for th in threads:
    th.join()
t.check('%d heartbeats from each of 2 terminals on kept-alive connections: all answered 200' % N,
        all(s == [200] * N for s in results.values()),
        {k: sorted(set(v)) for k, v in results.items()})


def latest(agent_id):
    rows = c.query('SELECT posture FROM posture_latest WHERE agent_id = ?', agent_id)
    return json.loads(rows[0][0]) if rows else None


def wait_for(cond, seconds=5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


for a in agents:
    ok = wait_for(lambda: (latest(a.id) or {}).get('posture', {}).get('n') == N)
    t.check('terminal %s: the stored posture is the last one it sent (n=%d)' % (a.id[:8], N),
            ok, latest(a.id))
    history = c.query('SELECT COUNT(*) FROM posture_history WHERE agent_id = ?', a.id)[0][0]
    t.check('terminal %s: posture history has 1..%d snapshots (%d), in the order sent'
            % (a.id[:8], N, history), 1 <= history <= N, history)
    ns = [json.loads(r[0])['posture']['n'] for r in
          c.query('SELECT posture FROM posture_history WHERE agent_id = ? ORDER BY rowid', a.id)]
    t.check('terminal %s: history snapshots only grow (latest wins, nothing older after newer)'
            % a.id[:8], ns == sorted(ns) and ns[-1] == N, ns[-10:])

status, _ = c.request('POST', '/v1/heartbeat', {'posture': {'n': N + 1}}, agent=agents[0])
t.check('a heartbeat after the burst is answered and stored too',
        status == 200 and wait_for(lambda: (latest(agents[0].id) or {}).get('posture', {}).get('n') == N + 1),
        latest(agents[0].id))
# the answer's headers: one Date (formatted once a second by each worker), no caching
conn = c.connection(agents[0])
asked = time.time()
conn.request('POST', '/v1/heartbeat', body=json.dumps({'posture': {}}),
             headers={'Content-Type': 'application/json'})
resp = conn.getresponse()
resp.read()
answered = time.time()
dates = resp.msg.get_all('Date') or []
try:
    dated = email.utils.parsedate_to_datetime(dates[0]).timestamp()
except (IndexError, TypeError, ValueError):
    dated = None
conn.close()
# the Date has whole seconds: the second in which the answer was made, between the request
# and the answer however slow this machine is (no tolerance to guess)
t.check('heartbeat answer: exactly one Date header, IMF-fixdate, the time of the answer',
        len(dates) == 1 and dated is not None and int(asked) <= dated <= answered and dates[0].endswith(' GMT'),
        (dates, asked, answered))
t.check('heartbeat answer: Cache-Control no-store, JSON',
        resp.getheader('Cache-Control') == 'no-store' and
        resp.getheader('Content-Type') == 'application/json', dict(resp.getheaders()))

seen = c.query('SELECT last_seen FROM terminals WHERE agent_id = ?', agents[0].id)
t.check('last_seen is recorded', seen and seen[0][0] and seen[0][0] > 0, seen)

c.stop()
t.finish()
