#ifndef MTRNN_CDURABLEFILES_H
#define MTRNN_CDURABLEFILES_H

/* What DurableFiles cannot call from Swift: glibc declares renameat2 only
   under _GNU_SOURCE, which Swift's Glibc module does not see, and syscall(2)
   is variadic. No library beyond libc. */

/* renameat2(RENAME_NOREPLACE): 0, or -1 with errno set: EEXIST when the
   target name is taken; EINVAL (or ENOSYS) where the file system or kernel
   cannot do it. */
int df_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);

#endif
