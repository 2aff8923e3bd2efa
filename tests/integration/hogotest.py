"""hogotest — shared harness for the Python integration tests of hogo-agent.

Used by tests/integration/*.py (run with /usr/bin/python3, which has gi and dbusmock):

    from hogotest import Test, Agent, read_events
    t = Test()                      # scratch dir t.dir, TAP output, cleanup at exit
    bus = t.system_bus()            # private system bus (DBUS_SYSTEM_BUS_ADDRESS set)
    logind = t.mock('logind', system=True)   # python3-dbusmock template, returns its obj
    notif_addr = t.session_bus()    # private session bus for the notification daemon
    t.mock('notification_daemon', system=False)
    keys = t.policy_keys(); env = t.sign_policy(policy_dict)
    agent = Agent(t, policy=policy_dict, notify_bus=notif_addr)
    agent.start(); agent.status(); agent.events(); agent.stop()
    t.check(name, cond); t.finish()

Everything runs against the real binaries in $HOGO_BUILD; the buses are real dbus-daemons.
"""
import atexit
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get('HOGO_SRC', os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))
BUILD = os.environ.get('HOGO_BUILD', os.path.join(SRC, 'build'))
HOGOCTL = os.path.join(BUILD, 'hogoctl')
AGENT = os.path.join(BUILD, 'hogo-agent')


def read_events(spool_dir):
    """Every event in the spool, in seq order (records: u32 len | u32 crc | payload)."""
    events = []
    if not os.path.isdir(spool_dir):
        return events
    for name in sorted(os.listdir(spool_dir)):
        if not (name.startswith('seg-') and name.endswith('.log')):
            continue
        with open(os.path.join(spool_dir, name), 'rb') as f:
            data = f.read()
        off = 0
        while off + 8 <= len(data):
            length, _crc = struct.unpack_from('<II', data, off)
            if off + 8 + length > len(data):
                break
            try:
                rec = json.loads(data[off + 8:off + 8 + length].decode())
            except ValueError:
                rec = None
            if isinstance(rec, dict) and 'seq' in rec:
                events.append(rec)
            off += 8 + length
    return events


class Test:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='hogo-it.')
        self.failures = 0
        self.procs = []
        self.cleanups = []
        self._dbusmock = None
        atexit.register(self._cleanup)

    # -- TAP ---------------------------------------------------------------------------
    def ok(self, name):
        print('ok - ' + name, flush=True)

    def fail(self, name, why=''):
        self.failures += 1
        print('not ok - ' + name + (': ' + why if why else ''), flush=True)

    def check(self, name, cond, why=''):
        (self.ok if cond else lambda n: self.fail(n, why))(name)
        return cond

    def finish(self):
        sys.exit(1 if self.failures else 0)

    @staticmethod
    def wait_for(pred, timeout=10.0, interval=0.05):
        deadline = time.monotonic() + timeout
        while True:
            v = pred()
            if v:
                return v
            if time.monotonic() >= deadline:
                return v
            time.sleep(interval)

    # -- processes ---------------------------------------------------------------------
    def spawn(self, argv, **kw):
        log = open(os.path.join(self.dir, os.path.basename(argv[0]) + '.%d.log' % len(self.procs)), 'w')
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        p.logfile = log.name
        self.procs.append(p)
        return p

    def _cleanup(self):
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        if os.environ.get('HOGO_KEEP_TEST_DIR'):
            print('# kept ' + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- D-Bus -------------------------------------------------------------------------
    def _dbus(self):
        if self._dbusmock is None:
            import dbusmock
            self._dbusmock = dbusmock
        return self._dbusmock

    def system_bus(self):
        """Starts a private system bus and points DBUS_SYSTEM_BUS_ADDRESS at it."""
        dm = self._dbus()
        dm.DBusTestCase.start_system_bus()
        self.cleanups.append(dm.DBusTestCase.tearDownClass)
        return os.environ['DBUS_SYSTEM_BUS_ADDRESS']

    def session_bus(self):
        """Starts a private session bus; returns its address."""
        dm = self._dbus()
        dm.DBusTestCase.start_session_bus()
        return os.environ['DBUS_SESSION_BUS_ADDRESS']

    def mock(self, template, system, parameters=None):
        """Spawns a dbusmock template; returns (process, main object proxy)."""
        dm = self._dbus()
        proc, obj = dm.DBusTestCase.spawn_server_template(
            template, parameters or {}, stdout=subprocess.DEVNULL, system_bus=system)
        self.procs.append(proc)
        return proc, obj

    # -- policy ------------------------------------------------------------------------
    def policy_keys(self):
        """An Ed25519 signing key pair: returns (private key path, public key path)."""
        d = os.path.join(self.dir, 'keys')
        if not os.path.isdir(d):
            subprocess.run([HOGOCTL, 'policy', 'keygen', '--out', d], check=True,
                           stdout=subprocess.DEVNULL)
        return os.path.join(d, 'policy-signing.key'), os.path.join(d, 'policy-signing.pub')

    def sign_policy(self, policy, name='policy'):
        """Writes policy (a dict) and signs it; returns the envelope's text."""
        path = os.path.join(self.dir, name + '.json')
        with open(path, 'w') as f:
            json.dump(policy, f, ensure_ascii=False)
        key, _ = self.policy_keys()
        return subprocess.run([HOGOCTL, 'policy', 'sign', '--key', key, path], check=True,
                              capture_output=True, text=True).stdout


def strict_policy(**sections):
    """The strict example policy with some sections replaced."""
    with open(os.path.join(SRC, 'policy', 'examples', 'strict-default.json')) as f:
        p = json.load(f)
    for k, v in sections.items():
        if isinstance(v, dict) and isinstance(p.get(k), dict):
            p[k].update(v)
        else:
            p[k] = v
    return p


class Agent:
    """The real hogo-agent with its own spool, policy dir, state dir and control socket."""

    def __init__(self, t, policy=None, notify_bus=None, sysfs_root=None, extra_config=None,
                 name='agent'):
        self.t = t
        self.root = os.path.join(t.dir, name)
        self.spool = os.path.join(self.root, 'spool')
        self.policy_dir = os.path.join(self.root, 'policy')
        self.state = os.path.join(self.root, 'state')
        self.socket = os.path.join(self.root, 'agent.sock')
        for d in (self.spool, self.policy_dir, self.state):
            os.makedirs(d, exist_ok=True)
        _, pub = t.policy_keys()
        self.config = {
            'spool_dir': self.spool,
            'policy_dir': self.policy_dir,
            'policy_pubkey': pub,
            'state_dir': self.state,
            'control_socket': self.socket,
            'log_level': 'debug',
            'notify': {'contact': '情報政策課 (内線 1234)', 'fallback': 'terminals'},
        }
        if notify_bus:
            self.config['notify']['session_bus_address'] = notify_bus
        if sysfs_root:
            self.config['sysfs_root'] = sysfs_root
        if extra_config:
            self.config.update(extra_config)
        self.config_path = os.path.join(self.root, 'agent.json')
        with open(self.config_path, 'w') as f:
            json.dump(self.config, f, ensure_ascii=False)
        if policy is not None:
            self.drop_policy(policy)
        self.proc = None

    def drop_policy(self, policy, name='policy'):
        """Signs policy and drops it where the uplink would, atomically."""
        text = policy if isinstance(policy, str) else self.t.sign_policy(policy, name)
        tmp = os.path.join(self.policy_dir, '.policy.json.tmp')
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, os.path.join(self.policy_dir, 'policy.json'))

    def start(self, env=None, timeout=10):
        e = dict(os.environ)
        e.update(env or {})
        self.proc = self.t.spawn([AGENT, '-d', '-c', self.config_path], env=e)
        ready = self.t.wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None,
                                timeout)
        if self.proc.poll() is not None or not ready:
            raise RuntimeError('hogo-agent did not start; log:\n' + self.log())
        return self

    def log(self):
        try:
            with open(self.proc.logfile) as f:
                return f.read()
        except (OSError, AttributeError):
            return ''

    def status(self):
        r = subprocess.run([HOGOCTL, 'status', '--json', '--socket', self.socket],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def events(self, type_prefix=None):
        evs = read_events(self.spool)
        if type_prefix:
            evs = [e for e in evs if e['type'].startswith(type_prefix)]
        return evs

    def wait_event(self, etype, timeout=10, pred=None):
        def found():
            for e in self.events():
                if e['type'] == etype and (pred is None or pred(e)):
                    return e
            return None
        return self.t.wait_for(found, timeout)

    def signal(self, sig=signal.SIGHUP):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return None
        return self.proc.returncode if self.proc else None
