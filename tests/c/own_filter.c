/* A program that installs a seccomp filter of its own, as sandboxed programs do, for
 * tests/supervise.rs (built with gcc -static, so that cgshim exec supervises it).
 *
 *   own_filter allow      sets no_new_privs and installs a filter that allows every call
 *   own_filter listener   the same filter, asking for a listener of its own
 *                         (SECCOMP_FILTER_FLAG_NEW_LISTENER)
 *
 * Output: `install=ok` or `install=ERRNO_NAME` (EBUSY, EPERM, EINVAL, OTHER), then what the
 * program sees afterwards: `meminfo_memtotal_kb=K` (/proc/meminfo) and `sysinfo_totalram=B`
 * (bytes). Exits 0 whether or not the filter went in. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static const char *errno_name(int e) {
    switch (e) {
    case EBUSY: return "EBUSY";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    default: return "OTHER";
    }
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "allow") && strcmp(argv[1], "listener"))) {
        fprintf(stderr, "usage: own_filter allow|listener\n");
        return 64;
    }
    unsigned int flags = strcmp(argv[1], "listener") ? 0 : SECCOMP_FILTER_FLAG_NEW_LISTENER;
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("prctl(PR_SET_NO_NEW_PRIVS)");
        return 2;
    }
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (r < 0) {
        printf("install=%s\n", errno_name(errno));
    } else {
        printf("install=ok\n");
        if (flags) close((int)r);
    }

    char buf[16384];
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0) {
        perror("open /proc/meminfo");
        return 2;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        perror("read /proc/meminfo");
        return 2;
    }
    buf[n] = 0;
    const char *p = strstr(buf, "MemTotal:");
    printf("meminfo_memtotal_kb=%llu\n", p ? strtoull(p + 9, NULL, 10) : 0ULL);
    struct sysinfo si;
    if (sysinfo(&si) != 0) {
        perror("sysinfo");
        return 2;
    }
    printf("sysinfo_totalram=%llu\n", (unsigned long long)si.totalram * si.mem_unit);
    return 0;
}
