#!/usr/bin/env python3
"""The hostile-uploader suite (issue 16): mtrnn-watch runs as an unprivileged
service user, an "uploader" in the service group attacks it through the inbox,
failed/ and the control socket, a "stranger" outside the group tries too, and
a real sd_notify listener (an AF_UNIX datagram socket, as systemd's) records
every line the daemon sends.

  scripts/hostile_uploader.py --daemon .build/debug/mtrnn-watch --ctl .build/debug/mtrnnctl [--names 1000]

Needs root (it creates three users and runs each part as one of them) and
Pillow. Checks, after all attacks:
  - the daemon never died and answered `mtrnnctl status` throughout;
  - every notify line is one systemd expects (READY=1, STATUS=..., WATCHDOG=1,
    STOPPING=1 only when stopped, ...): no name injected a command;
  - nothing lost: every upload's bytes are in the archive (deblurred, with a
    result in the outbox) or in failed/ with a .reason; the inbox keeps only
    the names the daemon ignores by design (dot-names, .part, ...);
  - nothing written where it should not be: the outbox holds only the
    service user's files, nothing appeared in the state folder's parent or
    through the links planted; no result was replaced;
  - `mtrnnctl status` output holds no control characters.
Prints a JSON line starting with "hostile-uploader:"; exits 1 on any problem."""
import argparse, grp, hashlib, io, json, os, pwd, random, shutil, signal, socket, stat, subprocess, sys
import tempfile, threading, time
from PIL import Image

SVC, UP, STRANGER = "mtrnn-hostile-svc", "mtrnn-hostile-up", "mtrnn-hostile-x"
IGNORED_SUFFIXES = (".part", ".tmp", ".crdownload", ".reason")


def ensure_users():
    def has(u):
        try: pwd.getpwnam(u); return True
        except KeyError: return False
    if not has(SVC): subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SVC], check=True)
    if not has(UP): subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", SVC, UP], check=True)
    if not has(STRANGER): subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", STRANGER], check=True)


def remove_users():
    for u in (UP, STRANGER, SVC):
        subprocess.run(["userdel", u], stderr=subprocess.DEVNULL)
    subprocess.run(["groupdel", SVC], stderr=subprocess.DEVNULL)


def as_user(user, fn, *args):
    """Runs fn(*args) in a child process as `user` (with its groups); returns what it returns."""
    pw = pwd.getpwnam(user)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            os.setgroups(os.getgrouplist(user, pw.pw_gid))
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
            os.umask(0o002)
            out = json.dumps(fn(*args)).encode()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            out = json.dumps({"error": repr(e)}).encode()
        os.write(w, out)
        os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk: break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b"null")


def tiny_jpeg(rng, tag):
    im = Image.new("RGB", (16 + tag % 7, 12), tuple(rng.randrange(256) for _ in range(3)))
    b = io.BytesIO()
    im.save(b, "JPEG", quality=80, comment=f"upload {tag}".encode())
    return b.getvalue()


class NotifyListener:
    """A bound datagram socket, as systemd's NOTIFY_SOCKET: records every line."""
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.settimeout(0.2)
        self.lines, self.stop = [], False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop:
            try: data = self.sock.recv(65536)
            except socket.timeout: continue
            self.lines.extend((time.time(), l) for l in data.decode("utf-8", "replace").split("\n"))


ALLOWED = ("READY=1", "STATUS=", "WATCHDOG=1", "RELOADING=1", "MONOTONIC_USEC=", "STOPPING=1", "ERRNO=", "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("hostile-uploader: SKIP: needs root (creates users, runs the daemon as one)"); return 0
    rng = random.Random(a.seed)
    ensure_users()
    svc, up = pwd.getpwnam(SVC), pwd.getpwnam(UP)
    gid = grp.getgrnam(SVC).gr_gid
    base = tempfile.mkdtemp(prefix="mtrnn-hostile-")
    os.chmod(base, 0o755)
    root = os.path.join(base, "srv")
    os.mkdir(root, 0o755)
    # The packaged layout (systemd/mtrnn-watch.tmpfiles): uploaders write the inbox and
    # failed/ (setgid + sticky), read the outbox; the state folder is the daemon's.
    layout = {"inbox": 0o3770, "failed": 0o3770, "outbox": 0o2750, "archive": 0o2750, "state": 0o700}
    for d, mode in layout.items():
        p = os.path.join(root, d)
        os.mkdir(p)
        os.chown(p, svc.pw_uid, gid)
        os.chmod(p, mode)
    # Copies of the binaries the service user can execute wherever the checkout lies.
    bindir = os.path.join(base, "bin"); os.mkdir(bindir, 0o755)
    for exe in (a.daemon, a.ctl):
        shutil.copy2(exe, bindir)
    daemon, ctl = os.path.join(bindir, os.path.basename(a.daemon)), os.path.join(bindir, os.path.basename(a.ctl))
    notify = NotifyListener(os.path.join(base, "notify.sock"))
    sockpath = os.path.join(root, "state", "control.sock")
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "10000000",
           "MTRNN_WATCH_TEST_PROCESSOR": "photoio", "HOME": "/"}
    log = open(os.path.join(base, "daemon.log"), "ab")
    args = ["setpriv", f"--reuid={svc.pw_uid}", f"--regid={gid}", "--init-groups", "--",
            daemon, "--settle", "0.2", "--inbox", f"{root}/inbox", "--outbox", f"{root}/outbox",
            "--archive", f"{root}/archive", "--failed", f"{root}/failed", "--state-dir", f"{root}/state",
            "--runtime-dir", f"{root}/state", "--recursive"]
    # A supervisor, as systemd's Restart=on-failure: a daemon that dies is started
    # again (the photo-of-death test below needs it); every death is counted.
    class Supervisor:
        def __init__(self):
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
            self.started = time.time()
            self.deaths, self.stopping = [], False
            self.thread = threading.Thread(target=self.loop, daemon=True)
            self.thread.start()
        def loop(self):
            while not self.stopping:
                rc = self.proc.poll()
                if rc is not None and not self.stopping:
                    self.deaths.append(rc)
                    if len(self.deaths) > 10: return   # StartLimitBurst
                    time.sleep(0.5)
                    self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
                    self.started = time.time()
                time.sleep(0.05)
        def alive(self):
            """Running, and for long enough to answer (a restart takes a moment)."""
            return self.proc.poll() is None and time.time() - self.started > 3
        def stop(self):
            self.stopping = True
            self.thread.join()
            self.proc.send_signal(signal.SIGTERM)
            try: return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired: self.proc.kill(); return "hung"
    sup = Supervisor()
    problems, facts = [], {}

    def ctl_status(user=None):
        cmd = [ctl, "status", "--socket", sockpath]
        if user is None:
            return subprocess.run(cmd, capture_output=True, timeout=20)
        return as_user(user, lambda: (lambda r: {"rc": r.returncode, "out": r.stdout.decode("utf-8", "replace"),
                                                 "err": r.stderr.decode("utf-8", "replace")})(
            subprocess.run(cmd, capture_output=True, timeout=20)))

    deadline = time.time() + 60
    while time.time() < deadline and not any(l == "READY=1" for _, l in notify.lines):
        time.sleep(0.05)
    if not any(l == "READY=1" for _, l in notify.lines):
        print(open(os.path.join(base, "daemon.log"), "rb").read().decode("utf-8", "replace")[-3000:])
        print("hostile-uploader: the daemon did not become ready"); return 1

    uploads = {}   # name (bytes) -> sha256 of what was uploaded

    # 1. Names: every byte 1-255 but "/", lengths 1-255, half of them photos.
    names = set()
    # Half any bytes (mostly not UTF-8: filed by their bytes), half UTF-8 text
    # with control characters, bidi overrides, spaces, dots and any script.
    pool = [c for c in range(1, 0x2500) if c != 0x2F and not 0xD800 <= c < 0xE000] + [0x202E, 0x2066, 0x1F600, 0x4E00, 0xFEFF]
    while len(names) < a.names:
        length = rng.choice([1, 2, 3, rng.randrange(1, 256)])
        if rng.random() < 0.5:
            n = bytes(rng.choice([b for b in range(1, 256) if b != 0x2F]) for _ in range(length))
        else:
            n = b""
            while True:
                c = chr(rng.choice(pool) if rng.random() < 0.5 else rng.randrange(0x20, 0x7F)).encode()
                if len(n) + len(c) > length: break
                n += c
            if not n: continue
        if n in (b".", b"..") or b"/" in n: continue
        names.add(n)
    special = [b"y", b"ab", b"abc", b"inj\nWATCHDOG_USEC=1\nSTOPPING=1\n.jpg", b"\x1b]0;owned\x07\x1b[2J.jpg",
               b"IMG_0001.JPG", "写真.jpg".encode(), b"\xff\xfe.jpg"]
    names.update(special)
    files = {}
    for i, n in enumerate(sorted(names)):
        data = tiny_jpeg(rng, i) if i % 2 == 0 or n in special else bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        files[n] = data

    def upload(items):
        done = []
        for hexname, hexdata in items:
            n, data = bytes.fromhex(hexname), bytes.fromhex(hexdata)
            try:
                fd = os.open(os.path.join(root.encode(), b"inbox", n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o664)
                os.write(fd, data); os.close(fd)
                done.append(hexname)
            except OSError:
                pass
        return done
    written = as_user(UP, upload, [(n.hex(), d.hex()) for n, d in files.items()])
    if not isinstance(written, list):
        problems.append(f"uploads failed: {written}"); written = []
    for h in written:
        n = bytes.fromhex(h)
        uploads[n] = hashlib.sha256(files[n]).hexdigest()
    facts["names_uploaded"] = len(uploads)

    # 2. Same name again, once the first left the inbox: a second result, none replaced.
    def wait_gone(name, seconds=60):
        end = time.time() + seconds
        while time.time() < end:
            if not os.path.lexists(os.path.join(root.encode(), b"inbox", name)): return True
            time.sleep(0.1)
        return False
    if wait_gone(b"IMG_0001.JPG"):
        second = tiny_jpeg(rng, 99999)
        if as_user(UP, upload, [(b"IMG_0001.JPG".hex(), second.hex())]):
            uploads[b"IMG_0001.JPG#2"] = hashlib.sha256(second).hexdigest()

    # 3. Links planted in failed/ and retries through them; retries into the state folder.
    # Results so far (dot-names are results being written: they go by design).
    outbox_before = sorted(n for n in os.listdir(os.path.join(root, "outbox")) if not n.startswith("."))
    def plant_and_retry():
        out = {}
        os.symlink(f"{root}/outbox", f"{root}/failed/evil")
        os.symlink(f"{root}/state", f"{root}/failed/st")
        for target in ["evil/IMG_0001.JPG", "st/x.jpg", f"{root}/failed/evil/y", "../state/x", "evil"]:
            r = subprocess.run([ctl, "retry", target, "--socket", sockpath], capture_output=True, timeout=20)
            out[target] = r.returncode
        return out
    retried = as_user(UP, plant_and_retry)
    facts["retries_through_links"] = retried
    if isinstance(retried, dict) and any(rc == 0 for rc in retried.values()):
        problems.append(f"a retry through a link was accepted: {retried}")

    # 4. A folder in failed/ that is a link, then a bad photo in the same folder of the inbox (recursive).
    def plant_folder():
        os.symlink(f"{root}/outbox", f"{root}/failed/sub-b")
        os.mkdir(f"{root}/inbox/sub-b", 0o2775)
        with open(f"{root}/inbox/sub-b/evil.jpg", "wb") as f: f.write(b"<html><script>alert(1)</script></html>")
        return True
    planted = as_user(UP, plant_folder)
    if planted is not True: problems.append(f"could not plant the folder link: {planted}")
    uploads[b"sub-b/evil.jpg"] = hashlib.sha256(b"<html><script>alert(1)</script></html>").hexdigest()

    # 5. The stranger: may read the status, may not pause, may not write the inbox.
    def stranger():
        r = subprocess.run([ctl, "pause", "--socket", sockpath], capture_output=True, timeout=20)
        try:
            open(f"{root}/inbox/stranger.jpg", "wb").close(); wrote = True
        except OSError:
            wrote = False
        return {"pause_rc": r.returncode, "wrote_inbox": wrote}
    st = as_user(STRANGER, stranger)
    facts["stranger"] = st
    if not isinstance(st, dict) or st.get("pause_rc") == 0 or st.get("wrote_inbox"):
        problems.append(f"the stranger could change state or write the inbox: {st}")

    # 6. Structure bombs (issue 16 items 2-4), from the fuzz seeds at the limits.
    here = os.path.dirname(os.path.abspath(__file__))
    bombs = {"bomb-com.jpg": "fuzz/corpus/jpeg/com_over_limit.jpg", "bomb-scans.jpg": "fuzz/corpus/jpeg/scans_over_limit.jpg",
             "bomb-chunks.png": "fuzz/corpus/png/chunks_over_limit.png", "bomb-shared.tif": "fuzz/corpus/tiff/shared_value.tif"}
    items = []
    for name, rel in bombs.items():
        data = open(os.path.join(here, "..", rel), "rb").read()
        items.append((name.encode().hex(), data.hex()))
        uploads[name.encode()] = hashlib.sha256(data).hexdigest()
    as_user(UP, upload, items)

    # 7. The photo of death: it aborts the daemon (the test processor's marker, as a
    # decoder bug would); restarted, it must crash it at most twice, then sit in failed/.
    death = b"MTRNN-TEST-CRASH, a photo that kills the daemon"
    as_user(UP, upload, [(b"death.jpg".hex(), death.hex())])
    uploads[b"death.jpg"] = hashlib.sha256(death).hexdigest()

    # 8. A slow client on the control socket, trickling a byte every 1.5 s, the whole time.
    def loris():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sockpath)
            for _ in range(40):
                s.send(b"{"); time.sleep(1.5)
        except OSError:
            pass
        return True
    loris_thread = threading.Thread(target=lambda: as_user(UP, loris), daemon=True)
    loris_thread.start()

    # Wait for the inbox to hold only what the daemon ignores by design, status answering throughout.
    def ignored(n):
        s = n.decode("utf-8", "replace")
        return s.startswith(".") or s.startswith("~") or s.lower().endswith(IGNORED_SUFFIXES)
    end = time.time() + max(120, len(uploads) * 0.5)
    status_fail, slowest, late_answers, status_errors = 0, 0.0, 0, []
    while time.time() < end:
        left = [n for n in os.listdir(os.path.join(root.encode(), b"inbox")) if not ignored(n) and n != b"sub-b"]
        left += [b"sub-b/" + n for n in os.listdir(os.path.join(root.encode(), b"inbox", b"sub-b"))] if os.path.isdir(f"{root}/inbox/sub-b") else []
        if not left: break
        t0 = time.time()
        if sup.alive():
            proc = sup.proc
            r = ctl_status()
            slowest = max(slowest, time.time() - t0)
            if r.returncode != 0 and sup.alive() and sup.proc is proc:
                # The same daemon, up for 3 s, did not answer. On a loaded
                # machine a restarted daemon (the photo of death) may still be
                # starting: ask once more before calling it a failure.
                time.sleep(2)
                again = ctl_status() if sup.proc is proc and sup.alive() else None
                if again is not None and again.returncode != 0:
                    status_fail += 1
                    status_errors.append(again.stderr.decode("utf-8", "replace")[-300:])
                elif again is not None:
                    late_answers += 1
        time.sleep(0.5)
    facts["left_in_inbox"] = len(left)
    if left: problems.append(f"still in the inbox after {int(time.time() - end + max(120, len(uploads) * 0.5))} s: {left[:5]}")
    facts["status_answered_on_second_try"] = late_answers
    if status_fail: problems.append(f"mtrnnctl status failed {status_fail} times (twice in a row from the same running daemon): {status_errors[:3]}")
    facts["slowest_status_s"] = round(slowest, 2)
    if slowest > 3: problems.append(f"mtrnnctl status took {slowest:.1f} s with a slow client on the socket")
    def reason_of(name):
        try: return open(os.path.join(root, "failed", name + ".reason"), encoding="utf-8", errors="replace").read()
        except FileNotFoundError: return ""
    if "crashed the daemon twice" not in reason_of("death.jpg"):
        problems.append(f"the photo of death is not quarantined: {reason_of('death.jpg')[:200]!r}")
    for name, want in (("bomb-com.jpg", "too much metadata"), ("bomb-chunks.png", "too much metadata"), ("bomb-scans.jpg", "scans")):
        if want not in reason_of(name): problems.append(f"{name}: reason does not say {want!r}: {reason_of(name)[:200]!r}")
    shared_out = os.path.join(root, "outbox", "bomb-shared.tif")
    if os.path.exists(shared_out) and os.path.getsize(shared_out) > 20 * len(bytes.fromhex(items[3][1])):
        problems.append(f"bomb-shared.tif was amplified to {os.path.getsize(shared_out)} bytes")
    # Only the photo of death may take the daemon down, and only twice (then it is quarantined).
    facts["daemon_deaths"] = sup.deaths
    if len(sup.deaths) != 2 or any(rc != -signal.SIGABRT for rc in sup.deaths):
        problems.append(f"the daemon died {len(sup.deaths)} times (exit {sup.deaths}); expected 2 aborts, from the photo of death")

    # Human status: no control characters from names.
    s = ctl_status()
    if any(c < 0x20 and c not in (0x0A,) or c == 0x7F for c in s.stdout):
        problems.append("mtrnnctl status printed control characters")

    # Stop it as systemd would, then check the notify lines.
    stop_time = time.time()
    rc = sup.stop()
    time.sleep(0.3); notify.stop = True
    if rc != 0: problems.append(f"the daemon exited {rc} on SIGTERM")
    bad = [l for t, l in notify.lines if not l.startswith(ALLOWED)]
    early_stop = [l for t, l in notify.lines if l == "STOPPING=1" and t < stop_time]
    if bad: problems.append(f"notify lines systemd would read as commands: {bad[:5]}")
    if early_stop: problems.append("STOPPING=1 sent before the daemon was stopped")
    facts["notify_lines"] = len(notify.lines)

    # Nothing lost: every upload's bytes are in the archive or in failed/.
    def walk(d):
        out = []
        for dirpath, dirnames, filenames in os.walk(d.encode()):
            out += [os.path.join(dirpath, f) for f in filenames]
        return out
    kept = {}
    for f in walk(f"{root}/archive") + walk(f"{root}/failed"):
        if f.endswith(b".reason") or os.path.islink(f): continue
        h = hashlib.sha256(open(f, "rb").read()).hexdigest()
        kept[h] = kept.get(h, 0) + 1
    expected = {n: h for n, h in uploads.items() if not ignored(os.path.basename(n.split(b"#")[0]))}
    lost = []
    for n, h in expected.items():
        if kept.get(h, 0) > 0: kept[h] -= 1
        else: lost.append(n)
    if lost: problems.append(f"{len(lost)} uploads lost: {lost[:5]}")
    failed_without_reason = [f for f in walk(f"{root}/failed") if not f.endswith(b".reason") and not os.path.islink(f)
                             and not os.path.exists(f + b".reason")]
    if failed_without_reason: problems.append(f"in failed/ without a .reason: {failed_without_reason[:5]}")
    outs = walk(f"{root}/outbox")
    strangers = [f for f in outs if os.lstat(f).st_uid != svc.pw_uid]
    if strangers: problems.append(f"files in the outbox not written by the daemon: {strangers[:5]}")
    archived = len(walk(f"{root}/archive"))
    if len(outs) != archived: problems.append(f"{len(outs)} results but {archived} archived originals")
    gone = [n for n in outbox_before if n not in os.listdir(os.path.join(root, "outbox"))]
    if gone: problems.append(f"results present before the attacks are gone: {gone[:5]}")
    img = [f for f in outs if os.path.basename(f).startswith(b"IMG_0001")]
    if b"IMG_0001.JPG#2" in uploads and len(img) != 2: problems.append(f"same name twice: results {img}")
    stray = [n for n in os.listdir(base) if n not in ("srv", "bin", "notify.sock", "daemon.log")]
    if stray: problems.append(f"files created outside the service folders: {stray}")
    state_files = os.listdir(os.path.join(root, "state"))
    if any(n.startswith("x") for n in state_files): problems.append(f"a retry wrote into the state folder: {state_files}")

    facts.update({"results": len(outs), "failed": len([f for f in walk(f"{root}/failed") if not f.endswith(b".reason")]),
                  "lost": len(lost), "problems": len(problems), "seed": a.seed})
    for p in problems[:30]: print("PROBLEM:", p)
    print(f"hostile uploader: {facts['names_uploaded']} random names (bytes 1-255, lengths 1-255) and the attacks of issue 16; "
          f"{facts['results']} results, {facts['failed']} in failed/, {len(lost)} lost, {len(problems)} problems")
    print("hostile-uploader:", json.dumps(facts))
    if problems or a.keep:
        print(f"kept {base} (daemon.log inside)")
    else:
        shutil.rmtree(base)
    remove_users()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
