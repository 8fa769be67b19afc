/* nr_free_pages from /proc/vmstat and MemFree from /proc/meminfo, read back to back in one
 * process (open + one read each), ROUNDS times.
 *
 *   vmstat_free ROUNDS [MIB]
 *
 * MIB: first allocate and touch MIB MiB (kept until exit), so the cgroup has some usage.
 * Output: one line per round: "nr_free_pages=P MemFree=K" (K in kB).
 * Exit status 2 (message on stderr) when a call fails or a field is missing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) { perror(path); exit(2); }
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0) { perror(path); exit(2); }
    buf[n] = 0;
    close(fd);
}

static long long value_after(const char *buf, const char *prefix) {
    size_t k = strlen(prefix);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, prefix, k)) return strtoll(p + k, NULL, 10);
    }
    fprintf(stderr, "vmstat_free: no line starting with \"%s\"\n", prefix);
    exit(2);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 0;
    if (mib) {
        char *p = malloc(mib << 20);
        if (!p) { perror("malloc"); return 2; }
        memset(p, 0x5a, mib << 20);
    }
    static char v[16384], m[16384];
    for (int i = 0; i < rounds; i++) {
        slurp("/proc/vmstat", v, sizeof v);
        slurp("/proc/meminfo", m, sizeof m);
        printf("nr_free_pages=%lld MemFree=%lld\n", value_after(v, "nr_free_pages "),
               value_after(m, "MemFree:"));
    }
    return 0;
}
