//! A python3 driver that runs a program on a new pseudo-terminal and types
//! at its prompts, as an operator or a witness would (`pty.fork`, so the
//! program's `/dev/tty` is that terminal).

/// Runs `argv` on a new pseudo-terminal; for each `(expect, reply)` waits
/// until the terminal shows `expect` (after the previous match), then types
/// `reply` and Enter. Prints what the terminal showed; exits with the
/// program's code (99 when an expected text never came, within 120 s).
pub const DRIVER: &str = r#"
import json, os, pty, select, signal, sys, time
steps = json.loads(sys.argv[1])
cmd = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
out = b""
seen = 0
deadline = time.time() + 120
def more():
    left = deadline - time.time()
    if left <= 0:
        return b""
    r, _, _ = select.select([fd], [], [], left)
    if not r:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:
        return b""
for expect, reply in steps:
    want = expect.encode()
    while want not in out[seen:]:
        data = more()
        if not data:
            sys.stdout.write(out.decode(errors="replace"))
            sys.stdout.write("\npty driver: never saw %r\n" % expect)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            sys.exit(99)
        out += data
    seen = out.index(want, seen) + len(want)
    # Let the program turn echo off and start reading.
    time.sleep(0.3)
    os.write(fd, reply.encode() + b"\n")
while True:
    data = more()
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
