#!/usr/bin/python3
"""Lock latency: time from each session's idle limit to the agent's LockSession call, over
many sessions whose limits fall at random moments, with the real hogo-agent against
python3-dbusmock's logind on a private system bus. Also prints the agent's CPU time while
it waits (it sleeps on one timer between thresholds: no polling).

    bench/session_lock.py [SESSIONS]        (default 200)
"""
import os
import random
import sys
import time

import dbus
import dbus.mainloop.glib
import dbusmock
from gi.repository import GLib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
from hogotest import Agent, Test, strict_policy  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
MOCK = dbusmock.MOCK_IFACE
SESSION = 'org.freedesktop.login1.Session'

t = Test()
dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
t.system_bus()
_, logind = t.mock('logind', system=True)
bus = dbusmock.DBusTestCase.get_dbus(system_bus=True)

policy = strict_policy(
    screen_lock={'idle_lock_seconds': 60, 'warn_before_seconds': 0, 'lock_grace_seconds': 600,
                 'lock_ignored_action': 'report'},
    logoff={'idle_logoff_seconds': 86400, 'warn_before_seconds': 0, 'hours': []})
agent = Agent(t, policy=policy, extra_config={'log_level': 'info'}).start()

seen = {}


def on_called(name, args, **kw):
    if name == 'LockSession' and args:
        seen.setdefault(str(args[0]), time.time())


bus.add_signal_receiver(on_called, 'MethodCalled', MOCK, path='/org/freedesktop/login1')

limits = {}
for i in range(N):
    sid = 'b%d' % i
    path = logind.AddSession(sid, 'seat0', dbus.UInt32(0), 'root', True, dbus_interface=MOCK)
    obj = bus.get_object('org.freedesktop.login1', path)
    limit = time.time() + random.uniform(3.0, 10.0)
    obj.UpdateProperties(SESSION, {'IdleHint': True, 'Type': 'x11',
                                   'IdleSinceHint': dbus.UInt64(int((limit - 60) * 1e6))},
                         dbus_interface=MOCK)
    logind.EmitSignal('org.freedesktop.login1.Manager', 'SessionNew', 'so', [sid, path],
                      dbus_interface=MOCK)
    limits[sid] = limit


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


loop = GLib.MainLoop()
cpu0, wall0 = cpu_seconds(agent.proc.pid), time.time()
deadline = max(limits.values()) + 3


def tick():
    if len(seen) >= N or time.time() > deadline:
        loop.quit()
        return False
    return True


GLib.timeout_add(50, tick)
loop.run()
cpu1, wall1 = cpu_seconds(agent.proc.pid), time.time()

lat = sorted((seen[s] - limits[s]) * 1000 for s in seen)
missed = N - len(lat)
if lat:
    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
    print('sessions %d  locked %d  missed %d' % (N, len(lat), missed))
    print('lock latency after the idle limit: p50 %.1f ms  p99 %.1f ms  max %.1f ms  min %.1f ms'
          % (pct(50), pct(99), lat[-1], lat[0]))
print('agent CPU while waiting for %d thresholds over %.1f s: %.3f s (%.2f %% of a core)'
      % (N, wall1 - wall0, cpu1 - cpu0, 100 * (cpu1 - cpu0) / (wall1 - wall0)))
print('target: every lock within 1000 ms after its limit, none before')
agent.stop()
sys.exit(1 if missed or (lat and lat[0] < 0) else 0)
