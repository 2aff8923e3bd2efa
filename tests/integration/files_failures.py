#!/usr/bin/python3
# files_failures — the real hogo-agent's files source when it cannot watch, in a mount
# namespace of its own on private tmpfs mounts, with real kernel conditions (no mocks):
#   - a removable mount hidden by a later mount over its parent cannot be marked:
#     files.mark_failed naming it, state "degraded", posture fails; unhidden, it recovers;
#   - the kernel cannot hand over an event (the agent may not open a write-only sysfs
#     attribute that someone opened): read() on the fanotify descriptor fails for that
#     event, files.monitor_failed with the error, posture fails, and monitoring goes on;
#   - files written to a destination and deleted before the agent read their events still
#     count (the kernel reports their path with " (deleted)");
#   - the fanotify descriptor closed under the agent (its own process made to close it, with
#     gdb): files.monitor_failed (stopped), state "failed", posture fails.
# Queue overflow is exercised in files_bulk.py.
# timeout: 120
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from files_ns import add_users, enter_private_mount_namespace, mount, run_test  # noqa: E402
from files_ns import run_as as run_as_uid  # noqa: E402

enter_private_mount_namespace(__file__)
from agent_harness import (HOGOCTL, Agent, check, drop_policy, events_of,  # noqa: E402
                           example_policy, keygen, sign, start_bus, wait_for, write_config)

MY_NUMBER = "123456789018"
USERS = {"mei": 1600, "ken": 1601}


def run_as(user, *cmd):
    return run_as_uid(USERS[user], *cmd)


def posture(cfg):
    with open(cfg["posture_file"]) as f:
        return json.load(f)["checks"].get("file_monitoring", {})


def body(s):
    data, home, sysfs = s.join("data"), s.join("home"), s.join("sysfs")
    for m in (data, home):
        mount(m)
    mount(sysfs, "sysfs", opts=None)
    # this namespace's /media only: a "removable" stick under it
    mount("/media")
    mount("/media/stick")
    os.chmod("/media/stick", 0o1777)

    add_users(s, home, USERS)
    # labelled files deep in a home that is not its own mount, and in a hidden directory
    deep, hidden = f"{home}/mei/Documents/2024/payroll", f"{home}/mei/.cache/app"
    for d in (deep, hidden):
        os.makedirs(d)
        for i in range(3):
            with open(f"{d}/p{i}.csv", "w") as f:
                f.write("x\n")
        subprocess.run([HOGOCTL, "mark", "--label", "personal"] + [f"{d}/p{i}.csv" for i in range(3)],
                       check=True)
    for i in range(30):
        with open(f"{data}/m{i}.csv", "w") as f:
            f.write(f"row {i}\n")
    subprocess.run([HOGOCTL, "mark", "--label", "personal"] + [f"{data}/m{i}.csv" for i in range(30)],
                   check=True)

    bus = start_bus(s, "system")
    key, pub = keygen(s)
    os.makedirs(s.join("sys"))
    policy = example_policy(
        1,
        marked_files={"xattr": "user.hogo.label", "paths": [f"{data}/**", f"{sysfs}/bus/**"],
                      "content": {"my_number": True, "my_number_min_matches": 1,
                                  "scan_max_bytes": 1048576, "patterns": []}},
        bulk_transfer={"window_seconds": 60, "max_files": 20, "max_bytes": 1 << 40,
                       "destinations": ["removable", "downloads"], "action": "warn",
                       "cooldown_seconds": 60})
    drop_policy(s.join("policy"), sign(s, key, policy, "v1"))
    config, cfg = write_config(s, pub, sysfs_root=s.join("sys"))
    agent = Agent(s, config, cfg, bus)
    st = agent.status()["sources"]["files"]
    watched = {(w["path"], w["why"]) for w in st.get("watching", [])}
    check("watches the removable stick, the sysfs glob's mount and the home tree",
          ("/media/stick", "removable") in watched and (f"{sysfs}/bus", "glob") in watched
          and (f"{home}/mei", "home") in watched and (f"{home}/mei/Downloads", "home") in watched,
          watched)
    check("a home that is not its own mount: its visible tree by directory, hidden ones not",
          (deep, "home") in watched and not any("/." in p for p, _ in watched)
          and not any(why == "home" and p == home for p, why in watched), watched)
    before = agent.status()["sources"]["files"]["marked_opens"]
    for d in (deep, hidden):
        for i in range(3):
            with open(f"{d}/p{i}.csv") as f:
                f.read()
    check("labelled files deep in the home are seen; in a hidden directory they are not (documented)",
          wait_for(lambda: agent.status()["sources"]["files"]["marked_opens"] - before == 3, 5)
          and (time.sleep(0.5) or agent.status()["sources"]["files"]["marked_opens"] - before == 3),
          agent.status()["sources"]["files"]["marked_opens"] - before)
    check("posture passes at start", wait_for(lambda: posture(cfg).get("result") == "pass", 5), posture(cfg))

    # ---- written and deleted before the agent read the events: still counted --------------
    dl = f"{home}/mei/Downloads"
    agent.signal(signal.SIGSTOP)
    try:
        run_as("mei", "sh", "-c", f"for i in $(seq 1 25); do printf '氏名,番号\\n山田,{MY_NUMBER}\\n'"
                                  f" > {dl}/list$i.csv; rm {dl}/list$i.csv; done")
    finally:
        agent.signal(signal.SIGCONT)
    w = wait_for(lambda: [e for e in events_of(cfg["spool_dir"], "files.bulk_warning") if e["user"] == "mei"], 10)
    check("25 downloads deleted before their events were read: one warning naming the download dir",
          w and len(w) == 1 and w[0]["details"]["destination"] == dl, w)
    check("no destination write left unplaced",
          agent.status()["sources"]["files"]["destination_writes_unplaced"] == 0,
          agent.status()["sources"]["files"])

    # ---- a mark that cannot be placed ---------------------------------------------------------
    mount("/media")  # hides /media/stick: mountinfo still lists it, its path is gone
    failed = wait_for(lambda: [e for e in events_of(cfg["spool_dir"], "files.mark_failed")
                               if e["details"]["path"] == "/media/stick"], 10)
    check("hidden removable mount: files.mark_failed names it and the error",
          failed and len(failed) == 1 and failed[0]["details"]["why"] == "removable"
          and failed[0]["details"]["error"] == "No such file or directory", failed)
    st = agent.status()["sources"]["files"]
    check("hidden removable mount: state degraded", st["state"] == "degraded", st)
    fm = posture(cfg)
    check("hidden removable mount: posture fails naming it",
          fm.get("result") == "fail" and "/media/stick" in fm.get("reason", ""), fm)
    subprocess.run(["umount", "/media"], check=True)  # the upper one: the stick shows again
    check("unhidden: watched again, state running",
          wait_for(lambda: agent.status()["sources"]["files"]["state"] == "running", 10),
          agent.status()["sources"]["files"])
    check("unhidden: posture passes again", wait_for(lambda: posture(cfg).get("result") == "pass", 5),
          posture(cfg))

    # ---- an event the kernel cannot hand over -----------------------------------------------
    wo = next(os.path.join(sysfs, "bus", b, "drivers_probe") for b in sorted(os.listdir(f"{sysfs}/bus"))
              if os.path.exists(os.path.join(sysfs, "bus", b, "drivers_probe")))
    os.close(os.open(wo, os.O_WRONLY))  # opened, nothing written: the agent may not open it to read
    lost = wait_for(lambda: events_of(cfg["spool_dir"], "files.monitor_failed"), 10)
    check("an event the agent could not receive: files.monitor_failed with the error",
          lost and len(lost) == 1 and lost[0]["details"]["error"] == "Permission denied"
          and lost[0]["details"]["events_lost"] >= 1 and lost[0]["details"]["stopped"] is False
          and lost[0]["severity"] == "alert", lost)
    check("events lost: counted in status", agent.status()["sources"]["files"]["events_lost"] >= 1,
          agent.status()["sources"]["files"])
    fm = posture(cfg)
    check("events lost: posture fails", fm.get("result") == "fail" and "lost" in fm.get("reason", ""), fm)
    # monitoring goes on: a bulk copy after the lost event is still seen
    run_as("ken", "cp", *[f"{data}/m{i}.csv" for i in range(25)], "/media/stick")
    w = wait_for(lambda: [e for e in events_of(cfg["spool_dir"], "files.bulk_warning") if e["user"] == "ken"], 10)
    check("after a lost event the source still watches: 25 marked files copied warn",
          w and len(w) == 1 and w[0]["details"]["destination"] == "/media/stick", w)

    # ---- the descriptor itself closed under the agent ------------------------------------------
    # (gdb makes the agent's own process call close() on it: the real descriptor really goes;
    # epoll alone would only forget it silently)
    pid = agent.proc.pid
    fds = [fd for fd in os.listdir(f"/proc/{pid}/fd")
           if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[fanotify]"]
    gdb = subprocess.run(["gdb", "-nx", "-batch", "-p", str(pid), "-ex", f"call (int)close({fds[0]})"],
                         capture_output=True, text=True, timeout=60) if len(fds) == 1 else None
    check("the agent's fanotify descriptor closed by its own process", gdb and gdb.returncode == 0,
          (fds, gdb and gdb.stderr[-500:]))
    mount(s.join("poke"))  # a mount change: the agent rescans and looks at its descriptor
    stopped = wait_for(lambda: [e for e in events_of(cfg["spool_dir"], "files.monitor_failed")
                                if e["details"]["stopped"]], 10)
    check("closed descriptor: files.monitor_failed (stopped), alert",
          stopped and len(stopped) == 1 and "closed" in stopped[0]["details"]["reason"]
          and stopped[0]["severity"] == "alert", stopped)
    st = agent.status()["sources"]["files"]
    check("closed descriptor: state failed", st["state"] == "failed", st)
    fm = posture(cfg)
    check("closed descriptor: posture fails, saying monitoring stopped",
          fm.get("result") == "fail" and "stopped" in fm.get("reason", ""), fm)
    check("agent stops cleanly", agent.stop() == 0, agent.log_text()[-2000:])
    for m in (s.join("poke"), "/etc/passwd", "/media/stick", "/media", sysfs, data, home):
        subprocess.run(["umount", m], check=False)


run_test(body)
