"""collectortest — shared harness for the collector's integration tests (collector_*.py).

Real mTLS on 127.0.0.1 with certificates made by the test (hogoctl ca init, openssl,
tests/tools/collector_cert), the real hogo-collector from $HOGO_BUILD and its SQLite store
read back with the sqlite3 module.

    from collectortest import Collector, Test, make_events
    t = Test()
    c = Collector(t)                     # CA, configuration, ports; c.start()
    agent = c.enroll()                   # token + CSR over the enrollment listener
    status, body = c.request('POST', '/v1/events', {'events': make_events(3)}, agent=agent)
    t.check('name', cond); t.finish()
"""
import atexit
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get('HOGO_SRC', os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
BUILD = os.environ.get('HOGO_BUILD', os.path.join(SRC, 'build'))
HOGOCTL = os.path.join(BUILD, 'hogoctl')
COLLECTOR = os.path.join(BUILD, 'hogo-collector')
CERT_TOOL = os.path.join(BUILD, 'tests', 'tools', 'collector_cert')
GENESIS = '0' * 64

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_harness as harness  # noqa: E402  (check, finish: the shared TAP lines)


class Test:
    """A scratch directory removed at exit, cleanups, and agent_harness's TAP lines."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='hogo-collector-it.')
        self._cleanups = []
        atexit.register(self._cleanup)

    def at_exit(self, fn):
        self._cleanups.append(fn)

    def _cleanup(self):
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def check(name, cond, detail=''):
        return harness.check(name, cond, detail)

    @staticmethod
    def finish():
        harness.finish()


class PortTaken(Exception):
    """The collector could not bind a port picked free a moment before."""


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def canonical(obj):
    """common/canon_json.h: sorted keys (UTF-8 byte order = code point order), no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)


def event_hash(ev):
    body = {k: v for k, v in ev.items() if k != 'hash'}
    return hashlib.sha256((ev['prev_hash'] + canonical(body)).encode()).hexdigest()


def make_event(seq, prev_hash, etype='usb.blocked', details=None, severity='warning'):
    ev = {'seq': seq, 'ts': '2026-11-27T14:40:%02d.%03dZ' % (seq % 60, seq % 1000),
          'type': etype, 'severity': severity, 'user': 'tanaka',
          'details': details if details is not None else {'n': seq, 'device': 'USBメモリ'},
          'prev_hash': prev_hash}
    ev['hash'] = event_hash(ev)
    return ev


def make_events(n, start_seq=1, prev_hash=GENESIS):
    out = []
    for seq in range(start_seq, start_seq + n):
        ev = make_event(seq, prev_hash)
        out.append(ev)
        prev_hash = ev['hash']
    return out


class Agent:
    def __init__(self, agent_id, key, cert):
        self.id, self.key, self.cert = agent_id, key, cert


class Collector:
    def __init__(self, t, threads=2, timeout_seconds=3, max_body_bytes=None, extra_limits=None,
                 store=None):
        self.t = t
        self.ca_dir = os.path.join(t.dir, 'ca')
        subprocess.run([HOGOCTL, 'ca', 'init', '--dir', self.ca_dir, '--server-name', 'localhost',
                        '--server-name', '127.0.0.1'], check=True, stdout=subprocess.DEVNULL)
        self.ca = os.path.join(self.ca_dir, 'ca.crt')
        self.db = os.path.join(t.dir, 'collector.db')
        self.agent_port, self.enroll_port = free_port(), free_port()
        self.metrics_port = free_port()
        limits = {'timeout_seconds': timeout_seconds, 'revocation_refresh_ms': 100}
        if max_body_bytes:
            limits['max_body_bytes'] = max_body_bytes
        limits.update(extra_limits or {})
        self.config = os.path.join(t.dir, 'collector.json')
        with open(self.config, 'w') as f:
            json.dump({
                'listen': {'agent': ['127.0.0.1:%d' % self.agent_port],
                           'enroll': ['127.0.0.1:%d' % self.enroll_port],
                           'metrics': ['127.0.0.1:%d' % self.metrics_port]},
                'tls': {'certificate': os.path.join(self.ca_dir, 'server.crt'),
                        'key': os.path.join(self.ca_dir, 'server.key'),
                        'ca': self.ca, 'ca_key': os.path.join(self.ca_dir, 'ca.key')},
                'store': store or {'sqlite': self.db},
                'limits': limits,
                'threads': threads,
            }, f)
        self.log = os.path.join(t.dir, 'collector.log')
        self.proc = None
        self._n = 0
        t.at_exit(self.stop)

    # --- process ---------------------------------------------------------------------
    def start(self):
        # A port free when it was picked may be taken by another process before the
        # collector binds it (a shared machine): then new ports, a few times.
        for attempt in range(3):
            try:
                return self._start_once()
            except PortTaken:
                self._repick_ports()
        return self._start_once()

    def _repick_ports(self):
        self.agent_port, self.enroll_port = free_port(), free_port()
        self.metrics_port = free_port()
        with open(self.config) as f:
            cfg = json.load(f)
        cfg['listen'] = {'agent': ['127.0.0.1:%d' % self.agent_port],
                         'enroll': ['127.0.0.1:%d' % self.enroll_port],
                         'metrics': ['127.0.0.1:%d' % self.metrics_port]}
        with open(self.config, 'w') as f:
            json.dump(cfg, f)

    def _start_once(self):
        log_start = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        self.logf = open(self.log, 'ab')
        self.proc = subprocess.Popen([COLLECTOR, '-d', '-c', self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                with open(self.log, 'rb') as f:
                    f.seek(log_start)
                    if b'Address already in use' in f.read():
                        raise PortTaken()
                raise RuntimeError('hogo-collector exited %d; log:\n%s' % (self.proc.returncode, self.log_text()))
            try:
                if self.request('GET', '/healthz', port=self.enroll_port)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError('hogo-collector did not answer /healthz')

    def latency(self, agent, n=3):
        """Seconds of the slowest of n /healthz round trips on new TLS connections: how
        late this (maybe busy) machine lets the collector and this client act just now.
        Tests that measure a deadline on purpose scale their margin from it."""
        worst = 0.0
        for _ in range(n):
            start = time.monotonic()
            self.request('GET', '/healthz', agent=agent)
            worst = max(worst, time.monotonic() - start)
        return worst

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait; then the log must hold no sanitizer report (ASan builds)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            log = self.log_text()
            bad = [w for w in ('AddressSanitizer', 'LeakSanitizer', 'runtime error:') if w in log]
            self.t.check('collector log free of sanitizer reports', not bad,
                         log[max(0, log.find('=====')):][:6000] if bad else '')
        return self.proc.returncode if self.proc else None

    def log_text(self):
        with open(self.log, errors='replace') as f:
            return f.read()

    # --- TLS clients -----------------------------------------------------------------
    def client_context(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=self.ca)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def connection(self, agent=None, port=None, cert=None, key=None, timeout=10):
        if agent:
            cert, key = agent.cert, agent.key
        return http.client.HTTPSConnection('localhost', port or self.agent_port, timeout=timeout,
                                           context=self.client_context(cert, key))

    def request(self, method, path, body=None, agent=None, port=None, cert=None, key=None,
                content_type='application/json', conn=None, raw=None):
        """(status, parsed JSON or text). body: dict (JSON-encoded) or bytes."""
        own = conn is None
        conn = conn or self.connection(agent, port, cert, key)
        data = raw if raw is not None else (json.dumps(body).encode() if isinstance(body, (dict, list)) else body)
        headers = {}
        if content_type and data is not None:
            headers['Content-Type'] = content_type
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode(errors='replace')
        finally:
            if own:
                conn.close()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def metrics_request(self, path, host='127.0.0.1'):
        """(status, text) from the plain-HTTP metrics listener."""
        conn = http.client.HTTPConnection(host, self.metrics_port, timeout=10)
        try:
            conn.request('GET', path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors='replace')
        finally:
            conn.close()

    def handshake_refused(self, cert=None, key=None, port=None):
        """True when the agent listener refuses the handshake (TLS 1.3 reports a refused
        client certificate on the first read, so a request is tried)."""
        try:
            status, _ = self.request('GET', '/healthz', port=port, cert=cert, key=key)
            return False
        except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError):
            return True

    # --- enrollment ------------------------------------------------------------------
    def token(self, department='総務課', uses=1, ttl='1h'):
        out = subprocess.run([HOGOCTL, 'token', 'create', '-c', self.config, '--department',
                              department, '--uses', str(uses), '--ttl', ttl],
                             check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def csr(self, name):
        key = os.path.join(self.t.dir, name + '.key')
        csr = os.path.join(self.t.dir, name + '.csr')
        subprocess.run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj',
                        '/CN=chosen-by-terminal/OU=経理課', '-out', csr], check=True,
                       capture_output=True)
        with open(csr) as f:
            return key, f.read()

    def enroll_request(self, token, hostname='pc-0001', csr=None):
        self._n += 1
        key, pem = self.csr('agent%d' % self._n) if csr is None else (None, csr)
        status, body = self.request('POST', '/v1/enroll',
                                    {'token': token, 'csr': pem, 'hostname': hostname},
                                    port=self.enroll_port)
        return status, body, key

    def enroll(self, department='総務課', hostname='pc-0001'):
        status, body, key = self.enroll_request(self.token(department), hostname)
        if status != 200:
            raise RuntimeError('enrollment failed: %s %s' % (status, body))
        cert = key[:-4] + '.crt'
        with open(cert, 'w') as f:
            f.write(body['certificate'])
        return Agent(body['agent_id'], key, cert)

    def issue_cert(self, name, cn, not_before, not_after, department='総務課', ca_dir=None):
        key = os.path.join(self.t.dir, name + '.key')
        cert = os.path.join(self.t.dir, name + '.crt')
        subprocess.run([CERT_TOOL, ca_dir or self.ca_dir, key, cert, cn, department, str(not_before),
                        str(not_after)], check=True)
        return key, cert

    # --- store -----------------------------------------------------------------------
    def query(self, sql, *args):
        db = sqlite3.connect(self.db, timeout=10)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def events_of(self, agent_id):
        return [r[0] for r in self.query('SELECT seq FROM events WHERE agent_id = ? ORDER BY seq', agent_id)]

    def alerts_of(self, agent_id):
        return [json.loads(r[0]) for r in self.query(
            "SELECT details FROM alerts WHERE agent_id = ? AND type = 'tamper.chain_break' ORDER BY id",
            agent_id)]

    def metric(self, series):
        """The value of one exact series, e.g. 'hogo_collector_rejects_total{reason="too_large"}'."""
        status, text = self.metrics_request('/metrics')
        for line in text.splitlines():
            parts = line.rsplit(' ', 1)
            if len(parts) == 2 and parts[0] == series:
                return float(parts[1])
        return None
