#!/usr/bin/env python3
# collector_enroll — POST /v1/enroll with valid, reused, expired and forged tokens.
# timeout: 120
"""The certificate an agent gets: issued by the hogo CA, CN = a new agent id (not what the
CSR asked for), OU = the token's department, clientAuth, about one year. Wrong tokens are
refused with one answer and counted by reason; only token hashes are stored."""
import hashlib
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import Collector, Test  # noqa: E402

t = Test()
c = Collector(t)
c.start()

token = c.token('総務課', uses=1, ttl='1h')
status, body, key = c.enroll_request(token, 'pc-0123')
t.check('valid token: enrolled (200)', status == 200 and set(body) >= {'agent_id', 'certificate', 'ca', 'department'},
        (status, body))
agent_id = body['agent_id']
t.check('department comes from the token', body.get('department') == '総務課', body.get('department'))
cert = os.path.join(t.dir, 'enrolled.crt')
with open(cert, 'w') as f:
    f.write(body['certificate'])
text = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-text', '-nameopt', 'utf8,sep_comma_plus_space'],
                      capture_output=True, text=True).stdout
subject = text.replace(' = ', '=')
t.check('certificate CN is the new agent id, not the CSR subject', 'CN=%s' % agent_id in subject
        and 'chosen-by-terminal' not in text, text[:600])
t.check('certificate OU is the department', 'OU=総務課' in subject and '経理課' not in subject, text[:600])
t.check('certificate is for client authentication only', 'TLS Web Client Authentication' in text
        and 'TLS Web Server Authentication' not in text)
t.check('certificate key is ECDSA P-256', 'prime256v1' in text)
v = subprocess.run(['openssl', 'verify', '-CAfile', c.ca, '-purpose', 'sslclient', cert], capture_output=True, text=True)
t.check('certificate chains to the hogo CA', v.returncode == 0, v.stdout + v.stderr)
end = subprocess.run(['openssl', 'x509', '-in', cert, '-noout', '-enddate', '-dateopt', 'iso_8601'],
                     capture_output=True, text=True).stdout
days = None
try:
    import datetime
    when = datetime.datetime.strptime(end.strip().split('=', 1)[1], '%Y-%m-%d %H:%M:%SZ')
    days = (when - datetime.datetime.utcnow()).days
except Exception:
    pass
t.check('certificate valid for one year', days is not None and 363 <= days <= 365, end)
t.check('the enrolled agent works over mTLS', c.request('GET', '/healthz', cert=cert, key=key)[0] == 200)
rows = c.query('SELECT hostname, department, cert_serial FROM terminals WHERE agent_id = ?', agent_id)
t.check('terminal stored with hostname, department and certificate serial',
        len(rows) == 1 and rows[0][0] == 'pc-0123' and rows[0][1] == '総務課' and rows[0][2], rows)

# reused: a one-use token enrolls once
status, body, _ = c.enroll_request(token, 'pc-0124')
t.check('reused token: refused (403 token_refused)', status == 403 and body.get('error') == 'token_refused', (status, body))
# a token with 2 uses enrolls two terminals, then stops
two = c.token('経理課', uses=2)
s1 = c.enroll_request(two, 'pc-a')[0]
s2 = c.enroll_request(two, 'pc-b')[0]
s3 = c.enroll_request(two, 'pc-c')[0]
t.check('token with --uses 2: two enrollments, the third refused', (s1, s2, s3) == (200, 200, 403), (s1, s2, s3))
# expired
short = c.token('総務課', ttl='1s')
time.sleep(2.2)
status, body, _ = c.enroll_request(short, 'pc-late')
t.check('expired token: refused (403 token_refused)', status == 403 and body.get('error') == 'token_refused', (status, body))
# forged: right shape, never issued
forged = hashlib.sha256(b'guess').hexdigest()
status, body, _ = c.enroll_request(forged, 'pc-evil')
t.check('forged token: refused (403 token_refused)', status == 403 and body.get('error') == 'token_refused', (status, body))
for reason, n in (('token_used_up', 2), ('token_expired', 1), ('token_unknown', 1)):
    v = c.metric('hogo_collector_rejects_total{reason="%s"}' % reason)
    t.check('counted separately: %s = %d' % (reason, n), v == n, v)
t.check('three terminals enrolled in all', c.query('SELECT COUNT(*) FROM terminals')[0][0] == 3, c.query('SELECT COUNT(*) FROM terminals'))

# tokens are stored hashed
stored = [r[0] for r in c.query('SELECT token_hash FROM tokens')]
t.check('tokens are stored as SHA-256, never in clear', token not in stored
        and hashlib.sha256(token.encode()).hexdigest() in stored)
with open(c.db, 'rb') as f:
    t.check('no token secret anywhere in the database file', token.encode() not in f.read())

# bad CSRs
status, body, _ = c.enroll_request(c.token(), 'pc-x', csr='-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n')
t.check('garbage CSR: 400 csr_invalid', status == 400 and body.get('error') == 'csr_invalid', (status, body))
rsa_key, rsa_csr = os.path.join(t.dir, 'rsa.key'), os.path.join(t.dir, 'rsa.csr')
subprocess.run(['openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', rsa_key, '-subj', '/CN=x',
                '-out', rsa_csr], check=True, capture_output=True)
tok = c.token()
status, body, _ = c.enroll_request(tok, 'pc-x', csr=open(rsa_csr).read())
t.check('RSA CSR: 400 (ECDSA P-256 only)', status == 400 and 'P-256' in body.get('message', ''), (status, body))
status, body, _ = c.enroll_request(tok, 'pc-x')
t.check('a refused CSR does not use up the token', status == 200, (status, body))
status, body, _ = c.enroll_request(c.token(), 'bad host/name')
t.check('bad hostname: 400', status == 400, (status, body))
status, body = c.request('POST', '/v1/enroll', {'token': 'x', 'csr': 'y', 'hostname': 'z', 'agent_id': 'mine'},
                         port=c.enroll_port)
t.check('unknown member (e.g. agent_id) in the body: 400', status == 400 and 'agent_id' in body.get('message', ''),
        (status, body))
t.check('enrollment is not served on the mTLS listener',
        c.request('POST', '/v1/enroll', {'token': 'x'}, cert=cert, key=key)[0] == 404)
t.check('collector alive', c.alive())
t.finish()
