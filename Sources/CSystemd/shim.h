#ifndef MTRNN_CSYSTEMD_SHIM_H
#define MTRNN_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* renameat2(RENAME_NOREPLACE): glibc declares renameat2 only under
   _GNU_SOURCE, which Swift's Glibc module does not see. EEXIST when the
   target name is taken; EINVAL where the file system cannot do it. */
static inline int mw_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 1u /* RENAME_NOREPLACE */);
}
#endif
