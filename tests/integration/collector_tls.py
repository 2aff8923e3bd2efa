#!/usr/bin/env python3
# collector_tls — the agent listener's handshake: who gets in and who is refused.
# timeout: 120
"""Accepted: an enrolled agent. Refused at the handshake: no client certificate, a
certificate from another CA, an expired one, a revoked one (hogoctl agent revoke, no
restart), a self-signed one, TLS 1.0 and 1.1 clients. Non-TLS bytes get a clear answer.
Every refusal is logged with its reason and counted."""
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import Collector, Test, HOGOCTL  # noqa: E402

t = Test()
c = Collector(t)
c.start()

agent = c.enroll()
status, body = c.request('GET', '/healthz', agent=agent)
t.check('enrolled agent is accepted over mTLS', status == 200 and body.get('status') == 'ok', (status, body))
status, body = c.request('POST', '/v1/heartbeat', {'posture': {}, 'policy_version': None}, agent=agent)
t.check('enrolled agent can heartbeat', status == 200 and body == {'policy_version': None}, (status, body))

# 1. no client certificate
t.check('no client certificate: refused at the handshake', c.handshake_refused())
# 2. another CA: a complete second CA made with hogoctl, its own client certificate
other = os.path.join(t.dir, 'other')
subprocess.run([HOGOCTL, 'ca', 'init', '--dir', other, '--server-name', 'localhost'], check=True,
               stdout=subprocess.DEVNULL)
okey, ocert = c.issue_cert('other-agent', agent.id, -60, 86400, ca_dir=other)
t.check('certificate from another CA (same CN as an enrolled agent): refused',
        c.handshake_refused(cert=ocert, key=okey))
# 3. expired (issued by the right CA, validity ended yesterday)
ekey, ecert = c.issue_cert('expired', agent.id, -2 * 86400, -86400)
t.check('expired certificate from the hogo CA: refused', c.handshake_refused(cert=ecert, key=ekey))
# 4. self-signed, with the CN of the enrolled agent
skey, scert = os.path.join(t.dir, 'self.key'), os.path.join(t.dir, 'self.crt')
subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
                '-nodes', '-keyout', skey, '-out', scert, '-days', '30', '-subj', '/CN=' + agent.id],
               check=True, capture_output=True)
t.check('self-signed certificate: refused', c.handshake_refused(cert=scert, key=skey))
# 5. TLS 1.0 / 1.1 clients, with legacy ciphers allowed so that they really offer them
for flag, name in (('-tls1', 'TLS 1.0'), ('-tls1_1', 'TLS 1.1')):
    r = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % c.agent_port, flag,
                        '-cipher', 'DEFAULT@SECLEVEL=0', '-cert', agent.cert, '-key', agent.key,
                        '-CAfile', c.ca], input=b'', capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode(errors='replace')
    t.check('%s client (valid certificate): refused' % name,
            r.returncode != 0 and 'Cipher is (NONE)' in out and 'alert protocol version' in out,
            out[-400:])
# TLS 1.2 still works, and 1.3 is what a modern client gets
ctx12 = c.client_context(agent.cert, agent.key)
ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
with socket.create_connection(('127.0.0.1', c.agent_port)) as raw:
    with ctx12.wrap_socket(raw, server_hostname='localhost') as s:
        t.check('TLS 1.2 client accepted with an AEAD cipher', s.version() == 'TLSv1.2'
                and ('GCM' in s.cipher()[0] or 'CHACHA20' in s.cipher()[0]), s.cipher())
with socket.create_connection(('127.0.0.1', c.agent_port)) as raw:
    with c.client_context(agent.cert, agent.key).wrap_socket(raw, server_hostname='localhost') as s:
        t.check('TLS 1.3 preferred', s.version() == 'TLSv1.3', s.version())

# 6. revocation takes effect at the next handshake, without a restart; an open
# keep-alive connection is refused at its next request
keep = c.connection(agent)
status, _ = c.request('GET', '/healthz', conn=keep)
t.check('keep-alive connection open before the revocation', status == 200)
pid = c.proc.pid
r = subprocess.run([HOGOCTL, 'agent', 'revoke', agent.id, '-c', c.config], capture_output=True, text=True)
t.check('hogoctl agent revoke succeeds', r.returncode == 0, r.stderr)
refused = False
deadline = time.time() + 5
while time.time() < deadline and not refused:
    refused = c.handshake_refused(cert=agent.cert, key=agent.key)
    if not refused:
        time.sleep(0.05)
t.check('revoked agent refused at the handshake (collector not restarted)', refused and c.proc.pid == pid and c.alive())
status, body = c.request('POST', '/v1/heartbeat', {'posture': {}}, conn=keep)
t.check('revoked agent refused on its already-open connection too', status == 403
        and body.get('error') == 'revoked', (status, body))
keep.close()
r = subprocess.run([HOGOCTL, 'agent', 'revoke', 'no-such-agent', '-c', c.config], capture_output=True, text=True)
t.check('revoking an unknown agent is an error that says so', r.returncode == 1 and 'no agent' in r.stderr, r.stderr)

# 7. enrollment listener: server-authenticated only, and it serves nothing for agents
status, body = c.request('POST', '/v1/events', {'events': []}, port=c.enroll_port)
t.check('agent routes are not served on the enrollment listener', status == 404, (status, body))
ctx = c.client_context()
with socket.create_connection(('127.0.0.1', c.enroll_port)) as raw:
    with ctx.wrap_socket(raw, server_hostname='localhost') as s:
        t.check('enrollment listener: TLS without a client certificate, at least 1.2',
                s.version() in ('TLSv1.2', 'TLSv1.3'))

# 8. non-TLS bytes on both ports: a clear answer or a close, never a crash
with socket.create_connection(('127.0.0.1', c.agent_port), timeout=5) as s:
    s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    reply = s.recv(4096)
t.check('plain HTTP on the TLS port gets "400" and an explanation', reply.startswith(b'HTTP/1.1 400')
        and b'HTTPS only' in reply, reply[:200])
with socket.create_connection(('127.0.0.1', c.enroll_port), timeout=5) as s:
    s.sendall(os.urandom(512))
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        data = b''
t.check('random bytes on the TLS port: connection closed', not data.startswith(b'HTTP/1.1 200'))
t.check('collector still serving after all refusals', c.alive() and c.request('GET', '/healthz', port=c.enroll_port)[0] == 200)

log = c.log_text()
for reason in ('no client certificate', 'revoked', 'certificate has expired', 'self-signed',
               'plain HTTP sent to the TLS port', 'unable to get local issuer certificate'):
    t.check('refusal logged: %s' % reason, reason in log, '')
for series, minimum in (('hogo_collector_tls_handshake_failures_total{reason="no_client_certificate"}', 1),
                        ('hogo_collector_tls_handshake_failures_total{reason="expired_certificate"}', 1),
                        ('hogo_collector_tls_handshake_failures_total{reason="revoked_certificate"}', 1),
                        ('hogo_collector_tls_handshake_failures_total{reason="untrusted_certificate"}', 2),
                        ('hogo_collector_tls_handshake_failures_total{reason="protocol"}', 2),
                        ('hogo_collector_tls_handshake_failures_total{reason="not_tls"}', 1)):
    v = c.metric(series)
    t.check('counted: %s >= %d' % (series, minimum), v is not None and v >= minimum, v)
t.check('collector stops cleanly on SIGTERM', c.stop() == 0)
t.finish()
