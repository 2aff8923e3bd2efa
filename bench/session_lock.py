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
from gi.repository import GLib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests',
                                'integration'))
from agent_harness import (Agent, Scratch, dbusmock, drop_policy, example_policy, keygen,  # noqa: E402
                           sign, start_bus, wait_name, write_config)

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
MOCK = 'org.freedesktop.DBus.Mock'
SESSION = 'org.freedesktop.login1.Session'

dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
with Scratch() as s:
    system = start_bus(s, 'system')
    dbusmock(s, 'DBUS_SYSTEM_BUS_ADDRESS', system, 'logind')
    wait_name(system, 'org.freedesktop.login1')
    bus = dbus.bus.BusConnection(system)
    logind = bus.get_object('org.freedesktop.login1', '/org/freedesktop/login1')

    key, pub = keygen(s)
    config, cfg = write_config(s, pub, log_level='info')
    policy = example_policy(
        1,
        screen_lock={'idle_lock_seconds': 60, 'warn_before_seconds': 0, 'lock_grace_seconds': 600,
                     'lock_ignored_action': 'report'},
        logoff={'idle_logoff_seconds': 86400, 'warn_before_seconds': 0, 'hours': [],
                'exempt_classes': [], 'exempt_users': []})
    drop_policy(cfg['policy_dir'], sign(s, key, policy, 'p1'))
    agent = Agent(s, config, cfg, system)

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

    lat = sorted((seen[x] - limits[x]) * 1000 for x in seen)
    missed = N - len(lat)
    print('sessions %d  locked %d  missed %d' % (N, len(lat), missed))
    if lat:
        def pct(p):
            return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
        print('lock latency after the idle limit: p50 %.1f ms  p99 %.1f ms  max %.1f ms  min %.1f ms'
              % (pct(50), pct(99), lat[-1], lat[0]))
    print('agent CPU while waiting for %d thresholds over %.1f s: %.3f s (%.2f %% of a core)'
          % (N, wall1 - wall0, cpu1 - cpu0, 100 * (cpu1 - cpu0) / (wall1 - wall0)))
    print('target: every lock within 1000 ms after its limit, none before')
    agent.stop()
sys.exit(1 if missed or (lat and lat[0] < 0) else 0)
