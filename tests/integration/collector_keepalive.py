#!/usr/bin/env python3
# collector_keepalive — a kept-alive connection's idle time and a request's own deadline are
# separate: an idle connection lives for limits.timeout_seconds, and a request has
# limits.request_seconds from its FIRST byte, however long the connection idled before.
# Real slow clients on raw TLS sockets against the real collector.
# timeout: 90
import json
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from collectortest import Collector, Test  # noqa: E402

IDLE, REQUEST = 4, 2
t = Test()
c = Collector(t, timeout_seconds=IDLE, extra_limits={'request_seconds': REQUEST})
c.start()
a = c.enroll()
ctx = c.client_context(a.cert, a.key)
# How late the collector may close a connection past a deadline is scaled from how slow a
# request is on this machine right now; on a quiet machine it is the designed 1.5-2 s.
LATE = max(2.0, 3 * c.latency(a))
print('# the collector may act up to %.2f s late' % LATE, flush=True)

BODY = json.dumps({'posture': {'screen_lock': 'pass'}, 'policy_version': None}).encode()
REQ = (b'POST /v1/heartbeat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n'
       b'Content-Length: %d\r\n\r\n' % len(BODY)) + BODY


def connect():
    return ctx.wrap_socket(socket.create_connection(('127.0.0.1', c.agent_port)),
                           server_hostname='localhost')


def read_answer(sock, timeout=10):
    """(status, raw bytes) of one answer; status None when the connection closed first."""
    sock.settimeout(timeout)
    got = b''
    while True:
        head, sep, rest = got.partition(b'\r\n\r\n')
        if sep:
            length = 0
            for line in head.split(b'\r\n')[1:]:
                name, _, value = line.partition(b':')
                if name.strip().lower() == b'content-length':
                    length = int(value)
            if len(rest) >= length:
                return int(head.split(b' ')[1]), got
        try:
            chunk = sock.recv(4096)
        except (ConnectionResetError, ssl.SSLError, OSError):
            chunk = b''
        if not chunk:
            return None, got
        got += chunk


def closed_after(sock, limit):
    """(seconds until the collector closed the connection, bytes it sent) or (None, ...)."""
    start = time.time()
    sock.settimeout(limit)
    got = b''
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return time.time() - start, got
            got += chunk
    except socket.timeout:
        return None, got
    except (ConnectionResetError, ssl.SSLError, OSError):
        return time.time() - start, got


def trickle(sock, data, pieces, every):
    """Sends data in `pieces` parts, one every `every` seconds; False when cut."""
    step = max(1, -(-len(data) // pieces))
    try:
        for i in range(0, len(data), step):
            sock.sendall(data[i:i + step])
            time.sleep(every)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        return False
    return True


# 1. Idle longer than the request deadline, then a request: still served, same connection.
#    (Again when this test process itself slept into the idle timeout: a starved client.)
for _ in range(3):
    s = connect()
    s.sendall(REQ)
    status, _ = read_answer(s)
    answered = time.monotonic()
    time.sleep(REQUEST + 1)
    idled = time.monotonic() - answered
    s.sendall(REQ)
    status2, raw = read_answer(s)
    if idled < IDLE - 0.5:
        break
    s.close()
    print('# the test client idled %.2f s instead of %d: again' % (idled, REQUEST + 1), flush=True)
t.check('kept-alive connection idle %ds (over request_seconds=%d): the next request is '
        'answered 200 on the same connection' % (REQUEST + 1, REQUEST),
        status == 200 and status2 == 200, (status, status2, raw[:120]))

# 2. The idle connection itself is closed after the idle timeout, quietly.
took, got = closed_after(s, IDLE + 4 + LATE)
s.close()
t.check('idle keep-alive connection lives for timeout_seconds=%d, then closed without an '
        'answer' % IDLE, took is not None and IDLE - 0.7 <= took <= IDLE + LATE and got == b'',
        (took, LATE, got[:120]))

# 2b. A connection that finishes its handshake and never sends a request idles out at
#     timeout_seconds too, not at the (longer, default 10 s) handshake deadline.
s = connect()
took, got = closed_after(s, IDLE + 8)
s.close()
t.check('connection with a finished handshake and no request: closed after timeout_seconds=%d, '
        'not handshake_seconds=10' % IDLE, took is not None and took <= IDLE + min(LATE, 5) and got == b'',
        (took, LATE, got[:120]))

# 3. Idle, then a request that trickles in within request_seconds of its first byte (but
#    ends past request_seconds after the previous answer): served.
#    (Again when this test process itself was too slow to trickle it within request_seconds;
#    the collector rightly cut that one with a 408, counted below.)
timeouts_of_slow_tries = 0
for _ in range(3):
    s = connect()
    s.sendall(REQ)
    status, _ = read_answer(s)
    time.sleep(1.5)
    start = time.time()
    sent = trickle(s, REQ, pieces=8, every=0.18)
    trickled_for = time.time() - start - 0.18  # the last sleep comes after the last piece
    status2, raw = read_answer(s)
    s.close()
    if trickled_for < REQUEST - 0.3:
        break
    timeouts_of_slow_tries += status2 == 408
    print('# the test client took %.2f s to trickle the request: again' % trickled_for, flush=True)
t.check('request begun after 1.5 s idle and trickled over %.1f s: the deadline counts from its '
        'first byte, answered 200' % (time.time() - start),
        status == 200 and sent and status2 == 200, (status, sent, status2, raw[:120]))

# 4. A request trickled too slowly (each piece within the idle timeout) is cut with a 408 at
#    request_seconds from its first byte, also after an idle pause.
s = connect()
s.sendall(REQ)
status, _ = read_answer(s)
time.sleep(1.5)
s.sendall(REQ[:1])
start = time.time()
s.settimeout(0.5)
got = b''
took = None
for byte in REQ[1:60]:
    try:
        s.sendall(bytes([byte]))
        chunk = s.recv(4096)
        if not chunk:
            took = time.time() - start
            break
        got += chunk
    except socket.timeout:
        continue
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
        took = time.time() - start
        break
    if time.time() - start > REQUEST + 5 + LATE:
        break
s.close()
t.check('request trickled a byte per 0.5 s: answered 408 and closed %d s after its first byte'
        % REQUEST, took is not None and REQUEST - 0.5 <= took <= REQUEST + LATE and
        got.startswith(b'HTTP/1.1 408'), (took, got[:120]))
t.check('the cut request is counted as request_timeout',
        (c.metric('hogo_collector_rejects_total{reason="request_timeout"}') or 0) >= 1)
t.check('nothing else was refused for time',
        c.metric('hogo_collector_rejects_total{reason="request_timeout"}') == 1 + timeouts_of_slow_tries,
        c.metric('hogo_collector_rejects_total{reason="request_timeout"}'))

c.stop()
t.finish()
