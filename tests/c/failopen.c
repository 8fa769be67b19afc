/* Hostile conditions in which the shim must behave like the real open(): it may serve the
 * container's values or fall back to the host's, but never fail where the real call works,
 * and fail with the real errno where the real call fails.
 *
 *   failopen MODE
 *
 * MODE: emfile1   RLIMIT_NOFILE leaves exactly one free fd number (the real open succeeds)
 *       emfile0   no free fd number at all (the real open fails with EMFILE)
 *       nomemfd   a seccomp filter makes memfd_create fail with EPERM
 * Output: ret=<fd or -1> errno=<n> MemTotal=<kB or 0> */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int deny_memfd(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_create, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: failopen emfile1|emfile0|nomemfd\n"); return 64; }
    const char *mode = argv[1];
    char buf[8192];
    if (!strcmp(mode, "nomemfd")) {
        if (deny_memfd() != 0) { perror("seccomp"); return 2; }
        if (syscall(__NR_memfd_create, "probe", 0) != -1 || errno != EPERM) {
            fprintf(stderr, "failopen: seccomp filter not effective\n");
            return 2;
        }
    } else {
        int lowest = dup(0); /* lowest free fd number */
        if (lowest < 0) { perror("dup"); return 2; }
        close(lowest);
        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = !strcmp(mode, "emfile1") ? (rlim_t)lowest + 1 : (rlim_t)lowest;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { perror("setrlimit"); return 2; }
    }
    errno = 0;
    int fd = open("/proc/meminfo", O_RDONLY);
    int err = errno;
    unsigned long long total = 0;
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            char *p = strstr(buf, "MemTotal:");
            if (p) total = strtoull(p + 9, NULL, 10);
        }
    }
    printf("ret=%d\nerrno=%d\nMemTotal=%llu\n", fd < 0 ? -1 : fd, fd < 0 ? err : 0, total);
    return 0;
}
