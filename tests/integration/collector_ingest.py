#!/usr/bin/env python3
# collector_ingest — POST /v1/events: acknowledgement after commit, idempotent re-sends,
# tamper (modified, deleted, reordered events) stored as tamper.chain_break alerts, spool
# drops declared by the agent accepted (also when the declaration comes in a later batch
# than the gap); heartbeat and policy delivery.
# timeout: 120
import copy
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import HOGOCTL, Collector, Test, event_hash, make_event, make_events  # noqa: E402

t = Test()
# A gap waits this long for the agent's declaration of spool drops before it is alerted.
GAP_WAIT = 3
c = Collector(t, extra_limits={'gap_declaration_seconds': GAP_WAIT})
c.start()


def post(agent, events):
    return c.request('POST', '/v1/events', {'events': events}, agent=agent)


def kinds(agent):
    return [a['kind'] for a in c.alerts_of(agent.id)]


def alerts_once_settled(agent, n):
    """The agent's chain-break alerts once there are n of them (gap alerts come when the
    gap's wait for a declaration is over), or what there is after the wait and a margin."""
    deadline = time.time() + GAP_WAIT + 5
    while True:
        al = c.alerts_of(agent.id)
        if len(al) >= n or time.time() > deadline:
            return al
        time.sleep(0.1)


# --- a clean stream, acknowledged and stored once ----------------------------------------
a = c.enroll(hostname='pc-clean')
evs = make_events(120)
status, body = post(a, evs[:100])
t.check('batch of 100 accepted, acked_seq = 100', status == 200 and body == {'acked_seq': 100}, (status, body))
t.check('all 100 events stored in seq order', c.events_of(a.id) == list(range(1, 101)))
status, body = post(a, evs[:100])
t.check('the same batch re-sent: acked again, nothing stored twice', status == 200 and body == {'acked_seq': 100}
        and c.events_of(a.id) == list(range(1, 101)), (status, body))
status, body = post(a, evs[90:120])
t.check('overlapping batch (91..120): only the new ones stored', status == 200 and body == {'acked_seq': 120}
        and c.events_of(a.id) == list(range(1, 121)), (status, body))
t.check('a clean stream raises no alert', c.alerts_of(a.id) == [])
row = c.query('SELECT hash FROM events WHERE agent_id = ? AND seq = 7', a.id)
t.check('stored hash is the event\'s hash', row and row[0][0] == evs[6]['hash'])
v = c.metric('hogo_collector_events_duplicate_total')
t.check('re-sent events counted as duplicates', v == 110, v)

# --- modified: content changed, hash left as it was -----------------------------------------
m = c.enroll(hostname='pc-modified')
evs = make_events(10)
evs[4] = copy.deepcopy(evs[4])
evs[4]['details']['n'] = 999  # content no longer matches its hash
status, body = post(m, evs)
t.check('modified event (hash mismatch): batch accepted, acked 10', status == 200 and body == {'acked_seq': 10}, (status, body))
al = c.alerts_of(m.id)
t.check('modified event flagged as a chain break (hash_mismatch) with expected vs got',
        [x['kind'] for x in al] == ['hash_mismatch'] and al[0]['seq'] == 5
        and al[0]['expected']['hash'] == event_hash(evs[4]) and al[0]['got']['hash'] == evs[4]['hash'], al)

# --- modified and re-hashed: the next event's prev_hash no longer matches -----------------
r = c.enroll(hostname='pc-rehashed')
evs = make_events(10)
evs[4] = copy.deepcopy(evs[4])
evs[4]['details']['n'] = 999
evs[4]['hash'] = event_hash(evs[4])
status, body = post(r, evs)
al = c.alerts_of(r.id)
t.check('modified and re-hashed event: flagged at the next event (prev_hash_mismatch)',
        status == 200 and [x['kind'] for x in al] == ['prev_hash_mismatch'] and al[0]['seq'] == 6
        and al[0]['expected']['prev_hash'] == evs[4]['hash'] and al[0]['got']['prev_hash'] == evs[5]['prev_hash'],
        (status, al))

# --- deleted: one event missing -------------------------------------------------------------
d = c.enroll(hostname='pc-deleted')
evs = make_events(10)
del evs[3]  # seq 4
status, body = post(d, evs)
al = alerts_once_settled(d, 1)
t.check('deleted event: batch accepted, acked 10', status == 200 and body == {'acked_seq': 10}, (status, body))
t.check('deleted event flagged as a gap, expected seq 4, got seq 5',
        [x['kind'] for x in al] == ['gap'] and al[0]['expected']['seq'] == 4 and al[0]['got']['seq'] == 5, al)
t.check('events around the gap stored', c.events_of(d.id) == [1, 2, 3, 5, 6, 7, 8, 9, 10])

# --- reordered: 1 2 3 5 4 6 ----------------------------------------------------------------
o = c.enroll(hostname='pc-reordered')
evs = make_events(6)
order = [evs[0], evs[1], evs[2], evs[4], evs[3], evs[5]]
status, body = post(o, order)
ks = [x['kind'] for x in alerts_once_settled(o, 2)]
t.check('reordered events: flagged (gap at 5, reorder at 4)', status == 200 and 'gap' in ks and 'reorder' in ks, (status, ks))
t.check('reordered events: every event stored once', c.events_of(o.id) == [1, 2, 3, 4, 5, 6])

# --- a different event for a seq already stored (history rewritten) --------------------------
f = make_events(3)
h = c.enroll(hostname='pc-conflict')
post(h, f)
fake = make_event(2, f[0]['hash'], details={'n': 'rewritten'})
status, body = post(h, [fake])
al = c.alerts_of(h.id)
t.check('rewritten history (other event for a stored seq): conflict alert, original kept',
        status == 200 and [x['kind'] for x in al] == ['conflict'] and al[0]['expected']['hash'] == f[1]['hash']
        and c.query('SELECT hash FROM events WHERE agent_id = ? AND seq = 2', h.id)[0][0] == f[1]['hash'], al)

# --- spool overflow: dropped events declared by the agent are not a break --------------------
s = c.enroll(hostname='pc-overflow')
evs = make_events(10)
drop = {'from_seq': 4, 'to_seq': 6, 'prev_hash': evs[3]['prev_hash'], 'hash': evs[5]['hash']}
overflow = make_event(11, evs[9]['hash'], etype='agent.spool_overflow', severity='warning',
                      details={'dropped': [drop]})
status, body = post(s, evs[:3] + evs[6:] + [overflow])
t.check('declared spool drops bridge the gap: no alert, acked 11', status == 200 and body == {'acked_seq': 11}
        and c.alerts_of(s.id) == [], (status, body, c.alerts_of(s.id)))
s2 = c.enroll(hostname='pc-overflow-lie')
bad = dict(drop, to_seq=5)  # declares less than is missing
overflow = make_event(11, evs[9]['hash'], etype='agent.spool_overflow', severity='warning',
                      details={'dropped': [bad]})
status, body = post(s2, evs[:3] + evs[6:] + [overflow])
ks = [x['kind'] for x in alerts_once_settled(s2, 1)]
t.check('a declaration that does not bridge the gap exactly: gap alert', ks == ['gap'], ks)
# With a backlog the declaration comes in a later batch than the gap it explains.
s3 = c.enroll(hostname='pc-overflow-later')
overflow = make_event(11, evs[9]['hash'], etype='agent.spool_overflow', severity='warning',
                      details={'dropped': [drop]})
gap_posted = time.time()
status1, body1 = post(s3, evs[:3] + evs[6:])
status2, body2 = post(s3, [overflow])
time.sleep(max(0, gap_posted + GAP_WAIT + 1 - time.time()))  # past the gap's wait
t.check('declaration in a later batch than the gap: no alert, even after the wait',
        (status1, body1, status2, body2) == (200, {'acked_seq': 10}, 200, {'acked_seq': 11})
        and c.alerts_of(s3.id) == [], (status1, body1, status2, body2, c.alerts_of(s3.id)))

# --- the heartbeat's spool report bounds where a declaration can be ------------------------
# The agent makes a drop's declaration durable before it drops, so once the uplink had the
# event after a gap acknowledged, the spool's durable mark (in the same report) is at or
# above any declaration of it: when the head reaches that mark undeclared, the gap is real
# and is alerted at once, not after the wait.
def heartbeat_spool(agent, acked, durable):
    return c.request('POST', '/v1/heartbeat', {'posture': {}, 'spool': {
        'last_seq': acked, 'acked_seq': acked, 'durable_seq': durable, 'bytes': 0}}, agent=agent)


def alerts_within(agent, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        al = c.alerts_of(agent.id)
        if al:
            return al
        time.sleep(0.05)
    return c.alerts_of(agent.id)


by_bound = c.metric('hogo_collector_gap_alerts_total{raised_by="declaration_bound"}') or 0
rd = c.enroll(hostname='pc-deleted-reported')
evs = make_events(12)
status, body = post(rd, evs[:3] + evs[4:8])  # seq 4 deleted; 1..3, 5..8
status2, body2 = heartbeat_spool(rd, 8, 12)
al_early = c.alerts_of(rd.id)
status3, body3 = post(rd, evs[8:12])  # up to the durable mark, no declaration
al = alerts_within(rd, GAP_WAIT - 1)
t.check('deleted event, reported spool: no alert before the head reaches the durable mark',
        (status, body, status2) == (200, {'acked_seq': 8}, 200) and al_early == [], (status, body, status2, al_early))
t.check('deleted event, reported spool: gap alerted as soon as the events up to the mark came',
        status3 == 200 and [x['kind'] for x in al] == ['gap'] and al[0].get('declaration_due_by_seq') == 12
        and al[0]['expected']['seq'] == 4 and al[0]['declaration_waited_seconds'] < GAP_WAIT, al)
v = c.metric('hogo_collector_gap_alerts_total{raised_by="declaration_bound"}')
t.check('gap alert counted as raised by the declaration bound', v == by_bound + 1, v)
rl = c.enroll(hostname='pc-overflow-reported')
overflow = make_event(11, evs[9]['hash'], etype='agent.spool_overflow', severity='warning',
                      details={'dropped': [{'from_seq': 4, 'to_seq': 6, 'prev_hash': evs[3]['prev_hash'],
                                            'hash': evs[5]['hash']}]})
gap_posted = time.time()
post(rl, evs[:3] + evs[6:10])
heartbeat_spool(rl, 10, 11)
status, body = post(rl, [overflow])
time.sleep(max(0, gap_posted + GAP_WAIT + 1 - time.time()))
t.check('declared drop, reported spool, declaration in a later batch: no alert, even after the wait',
        (status, body) == (200, {'acked_seq': 11}) and c.alerts_of(rl.id) == [], (status, body, c.alerts_of(rl.id)))
status, text = c.metrics_request('/metrics')
t.check('/metrics has the pending gaps gauge', '\nhogo_collector_chain_gaps_pending ' in text)

# --- invalid events reject the whole batch, nothing stored ----------------------------------
x = c.enroll(hostname='pc-invalid')
evs = make_events(5)
bad = copy.deepcopy(evs[2])
bad['agent_id'] = 'someone-else'  # an identity may never ride in a body
status, body = post(x, evs[:2] + [bad] + evs[3:])
t.check('event with an unknown member: 422, names the seq', status == 422 and body.get('error') == 'invalid_event'
        and body.get('seq') == 3, (status, body))
t.check('rejected batch stored nothing', c.events_of(x.id) == [] and c.alerts_of(x.id) == [])
bad = copy.deepcopy(evs[1])
bad['severity'] = 'catastrophic'
status, body = post(x, evs[:1] + [bad])
t.check('event with a bad severity: 422, nothing stored', status == 422 and c.events_of(x.id) == [], (status, body))
t.check('acked chain head unchanged after rejections',
        c.query('SELECT last_seq FROM terminals WHERE agent_id = ?', x.id)[0][0] == 0)

# --- heartbeat and policy -------------------------------------------------------------------
p = c.enroll(department='総務課', hostname='pc-policy')
hb = {'posture': {'policy_version': None, 'checks': {}}, 'policy_version': None, 'agent_version': '0.1.0',
      'hostname': 'pc-policy', 'spool': {'last_seq': 0, 'acked_seq': 0, 'bytes': 0}}
status, body = c.request('POST', '/v1/heartbeat', hb, agent=p)
t.check('heartbeat before any policy: policy_version null', status == 200 and body == {'policy_version': None}, (status, body))
status, body = c.request('GET', '/v1/policy', agent=p)
t.check('GET /v1/policy before any policy: 404 no_policy', status == 404 and body.get('error') == 'no_policy', (status, body))
policy_file = os.path.join(os.environ.get('HOGO_SRC', '.'), 'policy', 'examples', 'department-somu.json')
pr = subprocess.run([HOGOCTL, 'policy', 'push', '--department', '総務課', '-c', c.config, policy_file],
                    capture_output=True, text=True)
t.check('hogoctl policy push signs and stores', pr.returncode == 0, pr.stdout + pr.stderr)
pr2 = subprocess.run([HOGOCTL, 'policy', 'push', '--department', '経理課', '-c', c.config, policy_file],
                     capture_output=True, text=True)
t.check('pushing a 総務課 policy to 経理課 is refused', pr2.returncode != 0, pr2.stdout + pr2.stderr)
# Heartbeats are answered from the policy cache, refreshed from the store every
# revocation_refresh_ms (100 ms here): the new version shows within that time.
deadline = time.time() + 3
while True:
    status, body = c.request('POST', '/v1/heartbeat', hb, agent=p)
    if body == {'policy_version': '7'} or time.time() > deadline:
        break
    time.sleep(0.05)
t.check('heartbeat answers the assigned version (within the refresh interval)',
        status == 200 and body == {'policy_version': '7'}, (status, body))
conn = c.connection(p)
conn.request('GET', '/v1/policy')
resp = conn.getresponse()
envelope = resp.read()
conn.close()
env_file = os.path.join(t.dir, 'policy.json')
with open(env_file, 'wb') as fh:
    fh.write(envelope)
vr = subprocess.run([HOGOCTL, 'policy', 'verify', '--pubkey', os.path.join(c.ca_dir, 'policy-signing.pub'), env_file],
                    capture_output=True, text=True)
t.check('GET /v1/policy serves the signed envelope, which verifies', resp.status == 200 and vr.returncode == 0,
        (resp.status, vr.stdout, vr.stderr))
other = c.enroll(department='経理課', hostname='pc-other')
t.check('another department without a policy gets none', c.request('GET', '/v1/policy', agent=other)[0] == 404)
deadline = time.time() + 3
while True:  # written behind the answer, in the writer's next commit
    rows = c.query('SELECT posture FROM posture_latest WHERE agent_id = ?', p.id)
    if rows or time.time() > deadline:
        break
    time.sleep(0.05)
t.check('posture snapshot stored', rows and json.loads(rows[0][0])['hostname'] == 'pc-policy', rows)

v = c.metric('hogo_collector_chain_breaks_total{kind="gap"}')
t.check('chain breaks counted in /metrics', v is not None and v >= 3, v)
t.check('collector alive', c.alive())
t.finish()
