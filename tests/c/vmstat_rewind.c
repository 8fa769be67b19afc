/* The procps pattern on /proc/vmstat: open it ONCE, read, then fault in MIB MiB of anonymous
 * memory (mmap + write one byte per page, THP off so every page is its own fault), then
 * lseek(fd, 0, SEEK_SET) and ONE read of 8191 bytes, and read pgfault again.
 *
 *   vmstat_rewind MIB
 *
 * Output (key=value lines):
 *   len0=N pgfault0=A nr_free_pages0=F      first read (fresh fd, no rewind)
 *   touched_pages=P                          pages written between the two reads
 *   len1=N pgfault1=B nr_free_pages1=G      after lseek + read(8191)
 * Exit status 2 (message on stderr) when a call fails or pgfault is missing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Value of the line "KEY VALUE" (whole key, at the start of a line); -1 when absent. */
static long long line_value(const char *buf, const char *key) {
    size_t k = strlen(key);
    for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, key, k) && p[k] == ' ') return strtoll(p + k + 1, NULL, 10);
    }
    return -1;
}

static void sample(const char *tag, char *buf, ssize_t n) {
    if (n < 0) { perror("read /proc/vmstat"); exit(2); }
    buf[n] = 0;
    long long pf = line_value(buf, "pgfault");
    if (pf < 0) { fprintf(stderr, "vmstat_rewind: no pgfault line in %s read\n", tag); exit(2); }
    printf("len%s=%zd\npgfault%s=%lld\nnr_free_pages%s=%lld\n", tag, n, tag, pf, tag,
           line_value(buf, "nr_free_pages"));
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: vmstat_rewind MIB\n"); return 64; }
    size_t len = (size_t)atoi(argv[1]) << 20;
    long ps = sysconf(_SC_PAGESIZE);
    char buf[8192];
    int fd = open("/proc/vmstat", O_RDONLY);
    if (fd < 0) { perror("open /proc/vmstat"); return 2; }
    sample("0", buf, read(fd, buf, 8191));

    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 2; }
    madvise(p, len, MADV_NOHUGEPAGE); /* best effort: one fault per 4 KiB page */
    size_t pages = 0;
    for (size_t off = 0; off < len; off += (size_t)ps, pages++) p[off] = 1;
    printf("touched_pages=%zu\n", pages);

    if (lseek(fd, 0, SEEK_SET) != 0) { perror("lseek"); return 2; }
    sample("1", buf, read(fd, buf, 8191));
    return 0;
}
