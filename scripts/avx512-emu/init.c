/* PID 1 of the initramfs that scripts/avx512-emu.sh boots inside Bochs.
 * Runs /payload with the arguments in /args (one per line), its stdout and
 * stderr on /dev/console (the serial port the harness reads), prints
 *   AVX512-EMU EXIT <status>      (exit status 0-255), or
 *   AVX512-EMU SIGNAL <n> <name>  (killed by a signal),
 * then powers the machine off. Static: the initramfs has no libc.
 * Mounts only devtmpfs on /dev (for /dev/console) and proc (so the payload
 * can read /proc/cpuinfo if it wants). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_ARGS 256

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) (void)!write(1, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void power_off(void) {
    tcdrain(1); /* the marker must reach the harness before the machine stops */
    sync();
    reboot(RB_POWER_OFF);
    /* Only reached if the kernel could not power off: halt, the harness
     * ends Bochs once it has seen the marker. */
    for (;;) pause();
}

int main(void) {
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mkdir("/proc", 0555);
    mount("proc", "/proc", "proc", 0, NULL);
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0); dup2(fd, 1); dup2(fd, 2);
        if (fd > 2) close(fd);
        /* No output post-processing (ONLCR would turn \n into \r\n): the
         * harness hands the payload's bytes back unchanged. */
        struct termios t;
        if (tcgetattr(0, &t) == 0) { t.c_oflag &= ~(tcflag_t)OPOST; tcsetattr(0, TCSANOW, &t); }
    }

    /* Arguments: /args holds one argument per line (the harness writes it). */
    static char argbuf[65536];
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "/payload";
    int afd = open("/args", O_RDONLY);
    if (afd >= 0) {
        ssize_t n = read(afd, argbuf, sizeof argbuf - 1);
        close(afd);
        if (n > 0) {
            argbuf[n] = 0;
            char *p = argbuf;
            while (*p && argc < MAX_ARGS + 1) {
                char *nl = strchr(p, '\n');
                if (!nl) { argv[argc++] = p; break; }
                *nl = 0;
                argv[argc++] = p;
                p = nl + 1;
            }
        }
    }
    argv[argc] = NULL;

    say("AVX512-EMU START\n");
    pid_t pid = fork();
    if (pid < 0) {
        say("AVX512-EMU INIT-ERROR fork: %s\n", strerror(errno));
        power_off();
    }
    if (pid == 0) {
        char *envp[] = {"PATH=/", "HOME=/", "TERM=dumb", NULL};
        execve("/payload", argv, envp);
        say("AVX512-EMU INIT-ERROR exec /payload: %s\n", strerror(errno));
        _exit(127);
    }
    int status = 0;
    for (;;) {
        pid_t w = wait(&status);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) { say("AVX512-EMU INIT-ERROR wait: %s\n", strerror(errno)); power_off(); }
    }
    /* The payload's output may still sit in the serial port's queue: let it
     * drain so the marker follows it and nothing is cut by the power-off. */
    tcdrain(1);
    if (WIFEXITED(status))
        say("\nAVX512-EMU EXIT %d\n", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say("\nAVX512-EMU SIGNAL %d %s\n", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        say("\nAVX512-EMU INIT-ERROR status %#x\n", status);
    power_off();
    return 0;
}
