#!/usr/bin/python3
# timeout: 180
"""The session source against python3-dbusmock's logind on a private system bus and its
notification daemon on a private session bus, with the real hogo-agent: idle → Lock;
lock ignored → lock_ignored then logoff; activity during the warning → no logoff; exempt
class untouched; logind leaving and returning → the source recovers; outside the
permitted hours → warning then logoff."""
import os
import sys
import time

import dbus
import dbusmock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hogotest import Agent, Test, strict_policy  # noqa: E402

MOCK = dbusmock.MOCK_IFACE
MANAGER = 'org.freedesktop.login1.Manager'
SESSION = 'org.freedesktop.login1.Session'

t = Test()

# Without any system bus (a container): the source is unavailable, the agent keeps working
lonely = Agent(t, policy=strict_policy(), name='nobus').start(
    env={'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=' + t.dir + '/no-such-bus'})
st = lonely.status()
t.check('no system bus: session source unavailable, agent running',
        st and st['sources']['session']['state'] == 'unavailable', repr(st and st['sources']))
t.check('no system bus: posture says unknown, never pass',
        st and st['checks'].get('screen_lock', {}).get('result') == 'unknown', repr(st and st['checks']))
t.check('no system bus: agent stops cleanly', lonely.stop() == 0)

t.system_bus()
logind_proc, logind = t.mock('logind', system=True)
notify_addr = t.session_bus()
_, notifyd = t.mock('notification_daemon', system=False)
sysbus = dbusmock.DBusTestCase.get_dbus(system_bus=True)

policy = strict_policy(
    screen_lock={'idle_lock_seconds': 60, 'warn_before_seconds': 0, 'lock_grace_seconds': 2,
                 'lock_ignored_action': 'logoff'},
    logoff={'idle_logoff_seconds': 120, 'warn_before_seconds': 3, 'hours': [],
            'exempt_classes': ['greeter'], 'exempt_users': []})
agent = Agent(t, policy=policy, notify_bus=notify_addr).start()


def now_usec():
    return int(time.time() * 1e6)


def add_session(sid, idle_for=None, props=None):
    """A graphical session of root; returns (session object, IdleSinceHint in seconds)."""
    path = logind.AddSession(sid, 'seat0', dbus.UInt32(0), 'root', True, dbus_interface=MOCK)
    obj = sysbus.get_object('org.freedesktop.login1', path)
    update = {'Type': 'x11'}
    update.update(props or {})
    since = None
    if idle_for is not None:
        since = now_usec() - int(idle_for * 1e6)
        update.update({'IdleHint': True, 'IdleSinceHint': dbus.UInt64(since)})
    obj.UpdateProperties(SESSION, update, dbus_interface=MOCK)
    logind.EmitSignal(MANAGER, 'SessionNew', 'so', [sid, path], dbus_interface=MOCK)
    return obj, since and since / 1e6


def calls(obj, method, arg=None):
    return [c for c in obj.GetMethodCalls(method, dbus_interface=MOCK)
            if arg is None or (c[1] and str(c[1][0]) == arg)]


def notices(word):
    return [c for c in notifyd.GetMethodCalls('Notify', dbus_interface=MOCK)
            if word in str(c[1][3]) + str(c[1][4])]


st = t.wait_for(lambda: (lambda s: s if s and s['sources']['session']['state'] == 'running' else None)(agent.status()), 5)
t.check('status: session source running once logind answered', st, repr(agent.status()))

# 1. idle past the limit → LockSession, within a second of the limit; locker honours it
s1, since = add_session('s1', idle_for=59.5)
lock1 = t.wait_for(lambda: calls(logind, 'LockSession', 's1'), 5, interval=0.01)
t.check('idle session is locked', lock1)
if lock1:
    lag = time.time() - (since + 60)  # the mock's own call times are whole seconds
    print('# lock call seen %.3f s after the idle limit' % lag)
    t.check('lock comes within 1 s of the limit, not before', 0 <= lag <= 1.0, '%.3f s' % lag)
s1.UpdateProperties(SESSION, {'LockedHint': True}, dbus_interface=MOCK)
ev = agent.wait_event('session.locked', 5, lambda e: e['details']['session'] == 's1')
t.check('session.locked recorded, requested by the agent',
        ev and ev['details'].get('requested_by_agent') is True, repr(ev))

# 2. lock ignored → lock_ignored, then (policy: logoff) a warning and TerminateSession
add_session('s2', idle_for=60)
t.check('second session is locked', t.wait_for(lambda: calls(logind, 'LockSession', 's2'), 5))
ev = agent.wait_event('session.lock_ignored', 6, lambda e: e['details']['session'] == 's2')
t.check('lock ignored is recorded as a warning', ev and ev['severity'] == 'warning', repr(ev))
t.check('logoff warning shown in Japanese', t.wait_for(lambda: notices('ログオフ'), 5))
term = t.wait_for(lambda: calls(logind, 'TerminateSession', 's2'), 8)
t.check('ignored lock escalates to TerminateSession', term)
ev = agent.wait_event('session.logged_off', 5, lambda e: e['details']['session'] == 's2')
t.check('session.logged_off recorded with its rule',
        ev and ev['details'].get('rule') == 'screen_lock.lock_ignored_action', repr(ev))

# 3. idle logoff warning, then activity: cancelled, no logoff
s3, _ = add_session('s3', idle_for=118, props={'LockedHint': True})
ev = agent.wait_event('session.logoff_warning', 5, lambda e: e['details']['session'] == 's3')
t.check('idle logoff warning for s3', ev and ev['details'].get('rule') == 'logoff.idle_logoff_seconds',
        repr(ev))
s3.UpdateProperties(SESSION, {'IdleHint': False}, dbus_interface=MOCK)
t.check('activity cancels the logoff',
        agent.wait_event('session.logoff_cancelled', 5, lambda e: e['details']['session'] == 's3'))
time.sleep(4)
t.check('no TerminateSession after activity', not calls(logind, 'TerminateSession', 's3'))

# 4. exempt class (greeter) untouched even when idle for hours
add_session('s4', idle_for=10000, props={'Class': 'greeter'})
time.sleep(2)
t.check('exempt greeter session neither locked nor logged off',
        not calls(logind, 'LockSession', 's4') and not calls(logind, 'TerminateSession', 's4'))

# 5. logind leaves: unavailable; logind returns: sessions tracked again
logind_proc.terminate()
logind_proc.wait()
t.check('status: unavailable while logind is gone',
        t.wait_for(lambda: agent.status()['sources']['session']['state'] == 'unavailable', 5))
logind_proc, logind = t.mock('logind', system=True)
t.check('status: running again when logind returns',
        t.wait_for(lambda: agent.status()['sources']['session']['state'] == 'running', 5))
add_session('s6', idle_for=60)
t.check('after logind returned, idle sessions are locked again',
        t.wait_for(lambda: calls(logind, 'LockSession', 's6'), 5))

# 6. outside the permitted hours: warning then logoff, even for an active session
lt = time.localtime()
now_min = lt.tm_hour * 60 + lt.tm_min
start = (now_min + 120) % 1380  # a window that does not hold now
window = {'days': ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
          'start': '%02d:%02d' % divmod(start, 60), 'end': '%02d:%02d' % divmod(start + 30, 60)}
hours_policy = strict_policy(
    version=policy['version'] + 1,
    screen_lock=policy['screen_lock'],
    logoff=dict(policy['logoff'], hours=[window]))
agent.drop_policy(hours_policy, 'hours')
t.check('hours policy applied',
        agent.wait_event('agent.policy_applied', 5, lambda e: e['details'].get('version') == hours_policy['version']))
add_session('s5')
t.check('outside hours: Japanese notice', t.wait_for(lambda: notices('利用時間'), 5))
t.check('outside hours: TerminateSession', t.wait_for(lambda: calls(logind, 'TerminateSession', 's5'), 8))

r = agent.stop()
t.check('agent stops cleanly', r == 0, 'exit %r' % r)
t.finish()
