#!/usr/bin/python3
# agent_notify_helper — when hogo-agent-helper cannot do its work: a helper that is missing
# or not executable leaves the notice recorded as not shown (agent.notice_fallback,
# shown: none, the reason), says so in one clear log line, and the agent keeps enforcing:
# the policy signature check then runs in the agent itself. A helper that fails is
# recorded the same way, and a policy it could not check is refused (fail closed). With
# the real helper configured again (SIGHUP), both work through it.
# timeout: 120
import json
import os
import shutil
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_harness import (BUILD, Agent, Scratch, check, control, drop_policy, events_of,
                           example_policy, finish, keygen, sign, start_bus, wait_for,
                           write_config)


def notice_servers(parent=None):
    """Running notice servers of this build (children of parent, when given)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if exe == os.path.join(BUILD, "hogo-agent-helper") and cmd[1:2] == [b"notify-server"] \
                and (parent is None or ppid == parent):
            found.append(int(pid))
    return found


with Scratch() as s:
    system = start_bus(s, "system")  # no logind on it
    key, pub = keygen(s)
    missing = s.join("libexec", "hogo-agent-helper")
    config, cfg = write_config(s, pub, helper=missing)
    drop_policy(cfg["policy_dir"], sign(s, key, example_policy(1), "v1"))
    agent = Agent(s, config, cfg, system)

    def set_helper(path):
        with open(config) as f:
            c = json.load(f)
        c["helper"] = path
        with open(config, "w") as f:
            json.dump(c, f, ensure_ascii=False)
        agent.signal(signal.SIGHUP)

    def fallbacks():
        return events_of(cfg["spool_dir"], "agent.notice_fallback")

    def policy_event(kind, version):
        return lambda: [e for e in events_of(cfg["spool_dir"], "agent.policy_" + kind)
                        if f"v{version}" in json.dumps(e)]

    # ---- the helper is missing -----------------------------------------------------------------
    st = agent.status()
    check("helper missing: the policy is still checked (in the agent) and enforced",
          st["policy"]["version"] == 1 and st["policy"]["origin"] == "dropped", st["policy"])
    r = control(cfg, {"command": "notice", "kind": "usb_blocked", "user": "nobody",
                      "subject": "USB DISK 3.0"})
    fb = wait_for(fallbacks, 10)
    check("helper missing: the notice is recorded as not shown",
          r["ok"] and fb and fb[0]["details"]["shown"] == "none" and fb[0]["user"] == "nobody"
          and fb[0]["details"]["notice_kind"] == "usb_blocked"
          and "cannot be run" in fb[0]["details"]["reason"] and missing in fb[0]["details"]["reason"], fb)
    log = agent.log_text()
    check("helper missing: one clear log line says which notice, why and where the helper was looked for",
          f"Notice 記録機能を有する機器の接続制限 for nobody not shown: the notice helper {missing} "
          "cannot be run: No such file or directory" in log, log[-1500:])
    v2 = sign(s, key, example_policy(2), "v2")
    drop_policy(cfg["policy_dir"], v2)
    check("helper missing: a new signed policy is still applied",
          wait_for(lambda: agent.status()["policy"]["version"] == 2, 10), agent.status()["policy"])
    tampered = json.loads(sign(s, key, example_policy(3), "v3"))
    tampered["policy"]["name"] = "tampered"
    drop_policy(cfg["policy_dir"], json.dumps(tampered))
    rej = wait_for(lambda: events_of(cfg["spool_dir"], "agent.policy_rejected"), 10)
    check("helper missing: a tampered policy is still refused",
          rej and "signature does not match" in rej[0]["details"]["reason"]
          and agent.status()["policy"]["version"] == 2, rej)

    # ---- the helper is not executable ----------------------------------------------------------
    os.makedirs(os.path.dirname(missing), exist_ok=True)
    shutil.copy(os.path.join(BUILD, "hogo-agent-helper"), missing)
    os.chmod(missing, 0o644)
    set_helper(missing)
    n = len(fallbacks())
    wait_for(lambda: "Received SIGHUP" in agent.log_text(), 5)
    control(cfg, {"command": "notice", "kind": "lock_warning", "user": "nobody", "seconds": 60})
    fb = wait_for(lambda: fallbacks()[n:], 10)
    check("helper not executable: the notice is recorded as not shown",
          fb and fb[0]["details"]["shown"] == "none"
          and "cannot be run: Permission denied" in fb[0]["details"]["reason"], fb)

    # ---- the helper fails ----------------------------------------------------------------------
    set_helper("/bin/false")
    wait_for(lambda: agent.log_text().count("Received SIGHUP") >= 2, 5)
    n = len(fallbacks())
    control(cfg, {"command": "notice", "kind": "logoff_warning", "user": "nobody", "seconds": 120})
    fb = wait_for(lambda: fallbacks()[n:], 10)
    check("helper fails: the notice is recorded as not shown",
          fb and fb[0]["details"]["shown"] == "none"
          # it may be gone before the notice reaches it, or take it and exit
          and ("the notice helper failed (exit status 1)" in fb[0]["details"]["reason"]
               or "the notice helper does not take notices: Broken pipe" in fb[0]["details"]["reason"]), fb)
    n = len(events_of(cfg["spool_dir"], "agent.policy_rejected"))
    drop_policy(cfg["policy_dir"], sign(s, key, example_policy(4), "v4"))
    rej = wait_for(lambda: events_of(cfg["spool_dir"], "agent.policy_rejected")[n:], 10)
    check("helper fails: a policy it could not check is refused, v2 stays",
          rej and "the signature check did not complete" in rej[0]["details"]["reason"]
          and agent.status()["policy"]["version"] == 2, rej)

    # ---- the real helper again -----------------------------------------------------------------
    set_helper(os.path.join(BUILD, "hogo-agent-helper"))
    wait_for(lambda: agent.log_text().count("Received SIGHUP") >= 3, 5)
    check("real helper: the policy is checked by it and applied",
          wait_for(lambda: agent.status()["policy"]["version"] == 4, 10), agent.status()["policy"])
    n = len(fallbacks())
    control(cfg, {"command": "notice", "kind": "usb_blocked", "user": "nobody", "subject": "x"})
    fb = wait_for(lambda: fallbacks()[n:], 10)
    check("real helper: it ran (no logind on this bus, and it says so)",
          fb and "cannot list sessions from logind" in fb[0]["details"]["reason"], fb)
    server = notice_servers(agent.proc.pid)
    for i in range(3):
        control(cfg, {"command": "notice", "kind": "usb_blocked", "user": "nobody",
                      "subject": f"stick {i}", "rate_key": f"usb:{i}"})
    fb = wait_for(lambda: len(fallbacks()) >= n + 4 and fallbacks()[n:], 10)
    check("one notice server takes notice after notice (no process started per notice)",
          len(server) == 1 and notice_servers(agent.proc.pid) == server and fb and len(fb) == 4,
          (server, notice_servers(agent.proc.pid), fb))
    st = agent.status()
    check("status counts the notices that were not shown",
          st["notices"]["undelivered"] == 7 and st["notices"]["shown"] == 0, st["notices"])

    rc = agent.stop()
    log = agent.log_text()
    check("agent stops cleanly, no sanitizer report", rc == 0 and "Sanitizer" not in log
          and "runtime error" not in log, log[-2000:])
    check("the notice server ends with the agent", wait_for(lambda: not notice_servers(), 5),
          notice_servers())
    agent.dump_if_failed()

finish()
