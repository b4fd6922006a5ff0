"""Runs a command in a pseudo-terminal of COLS x ROWS and copies everything it writes to stdout.

usage: python3 pty-run.py COLS ROWS TIMEOUT_S [--resize-after TEXT --resize-cols C] -- CMD ARGS...

The child is a session leader with the pty as its controlling terminal, so a resize (TIOCSWINSZ on the
master, once TEXT has appeared in the output) reaches it as SIGWINCH, as in a real terminal; the
output then carries a marker, NUL "RESIZE:C" NUL, where the resize happened. Past TIMEOUT_S the
child's process group is killed. Exits with the child's exit code (124 on timeout).
"""

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time


def set_size(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    opts, cmd = args[:sep], args[sep + 1 :]
    cols, rows, timeout = int(opts[0]), int(opts[1]), float(opts[2])
    resize_after = None
    resize_cols = None
    rest = opts[3:]
    while rest:
        if rest[0] == "--resize-after":
            resize_after = rest[1].encode()
        elif rest[0] == "--resize-cols":
            resize_cols = int(rest[1])
        rest = rest[2:]

    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    set_size(fd, cols, rows)
    # The child may have asked for the size before it was set: tell it again.
    os.kill(pid, signal.SIGWINCH)
    deadline = time.monotonic() + timeout
    seen = b""
    resized = False
    out = sys.stdout.buffer
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.killpg(pid, signal.SIGKILL)
            break
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if not r:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break  # EIO: the child closed the terminal
        if not data:
            break
        out.write(data)
        out.flush()
        if resize_after is not None and not resized:
            seen = (seen + data)[-4096:]
            if resize_after in seen:
                out.write(b"\0RESIZE:%d\0" % resize_cols)
                out.flush()
                set_size(fd, resize_cols, rows)
                resized = True
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    if timed_out:
        sys.exit(124)
    sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)


if __name__ == "__main__":
    main()
