#!/usr/bin/python3
# files_bulk — the real hogo-agent's files source on private tmpfs mounts in a mount
# namespace of its own: 30 marked files copied to a "removable" mount within the window
# warn once, 10 do not; unmarked files never count; CSVs holding 個人番号 downloaded into a
# user's XDG download directory count; block mode denies the next open of a marked file
# and allows it after the cool-down; a process that never reads marked files is never
# affected. Users exist only in this namespace (a bind-mounted /etc/passwd).
# timeout: 180
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
USERS = {"hanako": 1500, "taro": 1501, "jiro": 1502, "sachiko": 1503, "yuki": 1504, "kenji": 1505}


def run_as(user, *cmd, check_rc=True):
    return run_as_uid(USERS[user], *cmd, check_rc=check_rc)


def user_dir(path):
    os.makedirs(path)
    os.chmod(path, 0o1777)


def warnings_for(cfg, user):
    return [e for e in events_of(cfg["spool_dir"], "files.bulk_warning") if e["user"] == user]


def files_status(agent):
    return agent.status()["sources"]["files"]


def body(s):
    data, usb, home = s.join("data"), s.join("usb"), s.join("home")
    for m in (data, usb, home):
        mount(m)
    os.chmod(usb, 0o1777)
    add_users(s, home, USERS)  # users known only inside this namespace

    # 40 labelled files, 40 plain ones, 5 under a policy glob (no label)
    os.makedirs(f"{data}/jumin")
    for i in range(40):
        with open(f"{data}/m{i}.csv", "w") as f:
            f.write(f"row {i}\n")
        with open(f"{data}/u{i}.txt", "w") as f:
            f.write(f"plain {i}\n")
    for i in range(5):
        with open(f"{data}/jumin/g{i}.csv", "w") as f:
            f.write("x\n")
    subprocess.run([HOGOCTL, "mark", "--label", "personal"] + [f"{data}/m{i}.csv" for i in range(40)],
                   check=True)

    bus = start_bus(s, "system")
    key, pub = keygen(s)
    os.makedirs(s.join("sys"))

    def policy(version, action, cooldown):
        return example_policy(
            version,
            marked_files={"xattr": "user.hogo.label", "paths": [f"{data}/jumin/**"],
                          "content": {"my_number": True, "my_number_min_matches": 1,
                                      "scan_max_bytes": 1048576, "patterns": []}},
            bulk_transfer={"window_seconds": 60, "max_files": 20, "max_bytes": 1 << 40,
                           "destinations": [usb, "downloads"], "action": action,
                           "cooldown_seconds": cooldown})

    drop_policy(s.join("policy"), sign(s, key, policy(1, "warn", 600), "v1"))
    config, cfg = write_config(s, pub, sysfs_root=s.join("sys"))
    agent = Agent(s, config, cfg, bus)
    st = files_status(agent)
    watched = {(w["path"], w["why"]) for w in st.get("watching", [])}
    check("files source running", st["state"] == "running", st)
    check("watches the data mount, the homes, the removable mount and the download dirs",
          (f"{data}/jumin", "glob") in watched and (usb, "path") in watched
          and (f"{home}/hanako", "home") in watched
          and (f"{home}/sachiko/Downloads", "downloads") in watched, watched)

    # ---- 10 marked files: under the limit -------------------------------------------------
    run_as("hanako", "cp", *[f"{data}/m{i}.csv" for i in range(10)], usb)
    time.sleep(1)
    check("10 marked files copied: no warning", warnings_for(cfg, "hanako") == [],
          warnings_for(cfg, "hanako"))

    # ---- 30 marked files: one warning ----------------------------------------------------------
    user_dir(f"{usb}/taro")
    run_as("taro", "cp", *[f"{data}/m{i}.csv" for i in range(30)], f"{usb}/taro")
    wait_for(lambda: warnings_for(cfg, "taro"), 10)
    time.sleep(1)
    w = warnings_for(cfg, "taro")
    check("30 marked files copied: exactly one warning", len(w) == 1, w)
    if w:
        d = w[0]["details"]
        check("warning names files, limit, process and destination",
              d["files"] >= 20 and d["max_files"] == 20 and d["uid"] == USERS["taro"]
              # exe/comm are null when cp had exited before the agent first looked
              and (d["process"]["comm"], (d["process"]["exe"] or "/cp")[-3:]) in (("cp", "/cp"), (None, "/cp"))
              and len(d["file_list"]) >= 20
              and all(p.startswith(f"{data}/m") for p in d["file_list"])
              and d["destination"] == usb and d["destination_kind"] == "path"
              and w[0]["severity"] == "warning", d)

    # glob-marked files count too: 5 under the glob + 15 labelled = 20
    # (a reader that stays a moment, as copy tools do; see "unattributed" in ARCHITECTURE)
    run_as("kenji", "/usr/bin/python3", "-c", "import sys, time; [open(f).read() for f in sys.argv[1:]]; time.sleep(0.5)",
           *[f"{data}/jumin/g{i}.csv" for i in range(5)], *[f"{data}/m{i}.csv" for i in range(10, 25)])
    wait_for(lambda: warnings_for(cfg, "kenji"), 10)
    w = warnings_for(cfg, "kenji")
    check("glob-marked and labelled files read by one user add up to a warning",
          len(w) == 1 and any("/jumin/g" in p for p in w[0]["details"]["file_list"])
          and w[0]["details"]["destination"] is None, w)

    # ---- unmarked files never count -----------------------------------------------------------
    user_dir(f"{usb}/jiro")
    before = files_status(agent)
    run_as("jiro", "cp", *[f"{data}/u{i}.txt" for i in range(40)], f"{usb}/jiro")
    run_as("jiro", "cp", *[f"{data}/u{i}.txt" for i in range(40)], f"{usb}/jiro")
    time.sleep(1)
    after = files_status(agent)
    check("80 unmarked copies: no warning", warnings_for(cfg, "jiro") == [], warnings_for(cfg, "jiro"))
    check("unmarked copies are not counted as marked",
          after["marked_opens"] == before["marked_opens"]
          and after["destination_writes_counted"] == before["destination_writes_counted"],
          (before, after))
    check("a file found unmarked is not looked at again (ignore marks)",
          after["unmarked_opens"] - before["unmarked_opens"] <= 41 and after["ignore_marks"] >= 40,
          (before, after))

    # ---- downloads holding 個人番号 -------------------------------------------------------------
    dl = f"{home}/sachiko/Downloads"
    script = ("for i in $(seq 1 25); do printf '氏名,番号\\n山田,%s\\n' " + MY_NUMBER
              + " > " + dl + "/list$i.csv; done")
    run_as("sachiko", "sh", "-c", script)
    run_as("jiro", "sh", "-c", f"for i in $(seq 1 25); do echo plain > {home}/jiro/Downloads/p$i.csv; done",
           check_rc=False)
    wait_for(lambda: warnings_for(cfg, "sachiko"), 10)
    w = warnings_for(cfg, "sachiko")
    check("25 downloaded CSVs with 個人番号: one warning", len(w) == 1, w)
    if w:
        check("the warning names the download directory",
              w[0]["details"]["destination"] == dl and w[0]["details"]["destination_kind"] == "downloads",
              w[0]["details"])
    check("plain downloads do not count", warnings_for(cfg, "jiro") == [], warnings_for(cfg, "jiro"))

    # ---- block mode ----------------------------------------------------------------------------
    drop_policy(s.join("policy"), sign(s, key, policy(2, "block", 4), "v2"))
    wait_for(lambda: agent.status()["policy"]["version"] == 2, 10)
    check("block policy in force", agent.status()["policy"]["version"] == 2)
    user_dir(f"{usb}/yuki")
    burst = run_as("yuki", "cp", *[f"{data}/m{i}.csv" for i in range(25)], f"{usb}/yuki", check_rc=False)
    copied = sorted(os.listdir(f"{usb}/yuki"))
    print("# burst:", burst.stderr.strip().replace("\n", " | "), "copied:", len(copied))
    wait_for(lambda: warnings_for(cfg, "yuki"), 10)
    check("block mode: the crossing warns", len(warnings_for(cfg, "yuki")) == 1, warnings_for(cfg, "yuki"))
    wait_for(lambda: files_status(agent)["blocking_active"], 5)
    # (setpriv opens files as root, then becomes yuki and execs cat: same pid, new uid)
    denied = run_as("yuki", "cat", f"{data}/m30.csv", check_rc=False)
    check("block mode: the next open of a marked file is denied",
          denied.returncode != 0 and "Operation not permitted" in denied.stderr, denied)
    # once per cool-down, at the first denial (which may already be in the burst's tail)
    blocked = wait_for(lambda: [e for e in events_of(cfg["spool_dir"], "files.bulk_blocked")
                                if e["user"] == "yuki"], 5)
    check("block mode: files.bulk_blocked recorded once, naming a marked file and the process",
          blocked and len(blocked) == 1 and blocked[0]["details"]["file"].startswith(f"{data}/m")
          and blocked[0]["details"]["process"]["comm"] in ("cp", "cat")  # blocked: alive when seen
          and blocked[0]["details"]["seconds_left"] <= 4 and blocked[0]["severity"] == "alert", blocked)
    check("block mode: the same user still opens unmarked files",
          run_as("yuki", "cat", f"{data}/u3.txt", check_rc=False).returncode == 0)
    opens_before = files_status(agent)["marked_opens"]
    check("block mode: another user still opens the marked file",
          run_as("hanako", "cat", f"{data}/m30.csv", check_rc=False).returncode == 0)
    # while blocking, opens are seen by the permission thread only, which hands them over
    counted = wait_for(lambda: files_status(agent)["marked_opens"] > opens_before, 5)
    check("block mode: other users' opens of marked files are still counted", counted,
          (opens_before, files_status(agent)))
    check("block mode: a process of another user that never reads marked files is untouched",
          run_as("jiro", "cp", f"{data}/u5.txt", f"{usb}/jiro/again.txt", check_rc=False).returncode == 0)
    time.sleep(4.5)
    wait_for(lambda: not files_status(agent)["blocking_active"], 5)
    after = run_as("yuki", "cat", f"{data}/m31.csv", check_rc=False)
    check("block mode: allowed again after the cool-down", after.returncode == 0, after)

    st = files_status(agent)
    check("no queue overflow, no decision allowed on error",
          st["queue_overflows"] == 0 and st["allowed_on_error"] == 0, st)
    with open(cfg["posture_file"]) as f:
        fm = json.load(f)["checks"].get("file_monitoring", {})
    check("posture: file monitoring passes", fm.get("result") == "pass", fm)

    # ---- queue overflow: counted and reported --------------------------------------------------
    user_dir(f"{data}/many")
    agent.signal(signal.SIGSTOP)
    try:  # 17000 new files opened while the agent cannot read: more than the queue holds
        run_as("jiro", "/usr/bin/python3", "-c",
               "import os, sys; [open(os.path.join(sys.argv[1], str(i)), 'w').close() for i in range(17000)]",
               f"{data}/many")
    finally:
        agent.signal(signal.SIGCONT)
    check("queue overflow counted", wait_for(lambda: files_status(agent)["queue_overflows"] >= 1, 20),
          files_status(agent))
    check("queue overflow reported as an event",
          wait_for(lambda: events_of(cfg["spool_dir"], "files.queue_overflow"), 10))
    check("agent stops cleanly", agent.stop() == 0, agent.log_text()[-2000:])
    subprocess.run(["umount", "/etc/passwd"], check=False)
    for m in (data, usb, home):
        subprocess.run(["umount", m], check=False)


run_test(body)
