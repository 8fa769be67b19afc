/* The procps (libproc2) pattern: open /proc/meminfo once and keep the fd; per sample rewind
 * and do ONE read of 8191 bytes. Between samples the program allocates and touches MIB MiB
 * (kept until exit), so the cgroup's usage grows and live values must move.
 *
 *   rewind MODE STEPS MIB
 *
 * MODE: lseek | lseek64 (lseek(fd, 0, SEEK_SET) + read(fd, buf, 8191))
 *       pread | pread64 (pread(fd, buf, 8191, 0))
 * Output: one line per sample: "sample=I len=N MemTotal=A MemFree=B MemAvailable=C",
 * then "eof_read=R" (a plain read() right after the first sample's read: 0 expected). */
#define _GNU_SOURCE
#define _LARGEFILE64_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned long long field(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    if (!p) return 0;
    return strtoull(p + strlen(key), NULL, 10);
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: rewind MODE STEPS MIB\n"); return 64; }
    const char *mode = argv[1];
    int steps = atoi(argv[2]);
    size_t mib = (size_t)atoi(argv[3]);
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd < 0) { perror("open /proc/meminfo"); return 2; }
    char buf[8192];
    for (int i = 0; i <= steps; i++) {
        if (i > 0) {
            char *p = malloc(mib << 20);
            if (!p) { perror("malloc"); return 2; }
            memset(p, 0x5a, mib << 20); /* touch every page: charged to the memory cgroup */
        }
        ssize_t n;
        if (i == 0) {
            n = read(fd, buf, 8191); /* first sample: fresh fd, no rewind */
        } else if (!strcmp(mode, "lseek")) {
            if (lseek(fd, 0, SEEK_SET) != 0) { perror("lseek"); return 2; }
            n = read(fd, buf, 8191);
        } else if (!strcmp(mode, "lseek64")) {
            if (lseek64(fd, 0, SEEK_SET) != 0) { perror("lseek64"); return 2; }
            n = read(fd, buf, 8191);
        } else if (!strcmp(mode, "pread")) {
            n = pread(fd, buf, 8191, 0);
        } else if (!strcmp(mode, "pread64")) {
            n = pread64(fd, buf, 8191, 0);
        } else { fprintf(stderr, "rewind: unknown mode %s\n", mode); return 64; }
        if (n < 0) { perror("read"); return 2; }
        buf[n] = 0;
        printf("sample=%d len=%zd MemTotal=%llu MemFree=%llu MemAvailable=%llu\n", i, n,
               field(buf, "MemTotal:"), field(buf, "MemFree:"), field(buf, "MemAvailable:"));
        if (i == 0) {
            char extra[64];
            printf("eof_read=%zd\n", read(fd, extra, sizeof extra));
        }
        fflush(stdout);
    }
    return 0;
}
