/* Built with musl-gcc: the shim must load into a musl process and answer there too.
 * Prints key=value lines: open_MemTotal fopen_MemTotal sc_phys_pages sc_pagesize
 * sysinfo_totalram_bytes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static long long memtotal(const char *buf) {
    const char *p = strstr(buf, "MemTotal:");
    return p ? atoll(p + 9) : -1;
}

int main(void) {
    char buf[16384];
    long long via_open = -1, via_fopen = -1;
    int fd = open("/proc/meminfo", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        if (n > 0) { buf[n] = 0; via_open = memtotal(buf); }
        close(fd);
    }
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        via_fopen = memtotal(buf);
        fclose(f);
    }
    struct sysinfo si;
    unsigned long long total = 0;
    if (sysinfo(&si) == 0) total = (unsigned long long)si.totalram * si.mem_unit;
    printf("open_MemTotal=%lld\nfopen_MemTotal=%lld\nsc_phys_pages=%ld\nsc_pagesize=%ld\nsysinfo_totalram_bytes=%llu\n",
           via_open, via_fopen, sysconf(_SC_PHYS_PAGES), sysconf(_SC_PAGESIZE), total);
    return 0;
}
