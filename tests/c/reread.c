/* Reads /proc/meminfo and sysinfo each time a line arrives on stdin, so that a test can change
 * the process's cgroup (move it, remove the old one) between two reads.
 *
 *   reread
 *
 * Per line read: MemTotal=<kB> MemFree=<kB> open_errno=<n> totalram=<bytes> sysinfo_ret=<n>,
 * then a line `--` and a flush. Exits 0 at the end of stdin. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void) {
    char line[64], buf[16384];
    while (fgets(line, sizeof line, stdin)) {
        errno = 0;
        int fd = open("/proc/meminfo", O_RDONLY);
        int err = fd < 0 ? errno : 0;
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        if (fd >= 0) close(fd);
        buf[n > 0 ? n : 0] = 0;
        char *t = strstr(buf, "MemTotal:"), *f = strstr(buf, "MemFree:");
        struct sysinfo si;
        int r = sysinfo(&si);
        printf("MemTotal=%llu\nMemFree=%llu\nopen_errno=%d\ntotalram=%llu\nsysinfo_ret=%d\n--\n",
               t ? strtoull(t + 9, NULL, 10) : 0, f ? strtoull(f + 8, NULL, 10) : 0, err,
               (unsigned long long)si.totalram * si.mem_unit, r);
        fflush(stdout);
    }
    return 0;
}
