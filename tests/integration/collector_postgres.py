#!/usr/bin/env python3
# collector_postgres — the collector on the PostgreSQL back end (HOGO_TEST_PG, the throwaway
# cluster tests/run starts): enrollment, ingest with re-sends and a deleted event, heartbeat
# and revocation behave as on SQLite. Each run uses a schema of its own, dropped at the end.
# timeout: 120
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import BUILD, HOGOCTL, Collector, Test, make_events  # noqa: E402

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
c = Collector(t, store={'postgres': conninfo})
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
status, body = c.request('POST', '/v1/events', {'events': evs[15:16] + evs[17:]}, agent=a)
t.check('deleted event (seq 17): stored around it, one chain break', status == 200 and body == {'acked_seq': 20}
        and store_check(a) == {'events': '19', 'last_seq': '20', 'chain_breaks': '1'}, (status, body, store_check(a)))
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
