#!/usr/bin/env python3
# collector_postgres — the collector on the PostgreSQL back end (HOGO_TEST_PG, the throwaway
# cluster tests/run starts): enrollment, ingest with re-sends, a deleted event and spool
# drops declared a batch later, heartbeat and revocation behave as on SQLite. Each run uses a schema of its own, dropped at the end.
# timeout: 120
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import BUILD, HOGOCTL, Collector, Test, make_event, make_events  # noqa: E402

t = Test()
pg = os.environ.get('HOGO_TEST_PG')
if not pg:
    t.check('HOGO_TEST_PG names a PostgreSQL server (tests/run starts one)', False)
    t.finish()
schema = 'hogo_collector_%d' % os.getpid()


def psql(sql):
    return subprocess.run(['psql', pg, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql], capture_output=True, text=True)


r = psql('CREATE SCHEMA %s' % schema)
t.check('a schema of its own in the test cluster', r.returncode == 0, r.stderr)
t.at_exit(lambda: psql('DROP SCHEMA %s CASCADE' % schema))
conninfo = "%s options='-c search_path=%s'" % (pg, schema)
GAP_WAIT = 2  # a chain gap's wait for the agent's declaration of spool drops
c = Collector(t, store={'postgres': conninfo}, extra_limits={'gap_declaration_seconds': GAP_WAIT})
c.start()


def store_check(agent):
    out = subprocess.run([os.path.join(BUILD, 'tests', 'tools', 'store_check'), 'postgres:' + conninfo, agent.id],
                         capture_output=True, text=True).stdout
    return dict(kv.split('=') for kv in out.split())


a = c.enroll(hostname='pc-pg')
t.check('enrolled through PostgreSQL', a.id and len(a.id) == 36)
evs = make_events(20)
status, body = c.request('POST', '/v1/events', {'events': evs[:10]}, agent=a)
t.check('batch acknowledged after COMMIT', status == 200 and body == {'acked_seq': 10}, (status, body))
status, body = c.request('POST', '/v1/events', {'events': evs[:15]}, agent=a)
t.check('overlapping re-send: only the new events stored', status == 200 and body == {'acked_seq': 15}
        and store_check(a) == {'events': '15', 'last_seq': '15', 'chain_breaks': '0'}, (status, body, store_check(a)))
gap_posted = time.time()
status, body = c.request('POST', '/v1/events', {'events': evs[15:16] + evs[17:]}, agent=a)
# the spool-overflow case: events 4..6 dropped, declared in the next batch
b = c.enroll(hostname='pc-pg-overflow')
drop = {'from_seq': 4, 'to_seq': 6, 'prev_hash': evs[3]['prev_hash'], 'hash': evs[5]['hash']}
overflow = make_event(21, evs[19]['hash'], etype='agent.spool_overflow', severity='warning',
                      details={'dropped': [drop]})
sb1 = c.request('POST', '/v1/events', {'events': evs[:3] + evs[6:]}, agent=b)
sb2 = c.request('POST', '/v1/events', {'events': [overflow]}, agent=b)
deadline = gap_posted + GAP_WAIT + 5
while store_check(a).get('chain_breaks') != '1' and time.time() < deadline:
    time.sleep(0.1)
t.check('deleted event (seq 17): stored around it, one chain break once the gap\'s wait is over',
        status == 200 and body == {'acked_seq': 20}
        and store_check(a) == {'events': '19', 'last_seq': '20', 'chain_breaks': '1'}, (status, body, store_check(a)))
time.sleep(max(0, gap_posted + GAP_WAIT + 1 - time.time()))
t.check('spool drops declared a batch after the gap: no chain break, even after the wait',
        (sb1, sb2) == ((200, {'acked_seq': 20}), (200, {'acked_seq': 21}))
        and store_check(b) == {'events': '18', 'last_seq': '21', 'chain_breaks': '0'}, (sb1, sb2, store_check(b)))
status, body = c.request('POST', '/v1/heartbeat', {'posture': {}, 'policy_version': None}, agent=a)
t.check('heartbeat', status == 200 and body == {'policy_version': None}, (status, body))
token = c.token(uses=1)
s1 = c.enroll_request(token, 'pc-pg2')[0]
s2 = c.enroll_request(token, 'pc-pg3')[0]
t.check('one-use token: used once, then refused', (s1, s2) == (200, 403), (s1, s2))
r = subprocess.run([HOGOCTL, 'agent', 'revoke', a.id, '-c', c.config], capture_output=True, text=True)
t.check('hogoctl agent revoke through PostgreSQL', r.returncode == 0, r.stderr)
refused = False
deadline = time.time() + 5
while time.time() < deadline and not refused:
    refused = c.handshake_refused(cert=a.cert, key=a.key)
    time.sleep(0.05)
t.check('revoked agent refused at the handshake', refused)
t.check('collector stops cleanly', c.stop() == 0)
t.finish()
