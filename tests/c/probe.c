/* Asks every virtualized entry point once and prints what is stable from one run to the next,
 * as key=value lines, so that two runs (with and without the library, or under valgrind) can be
 * compared line by line.
 *
 *   probe
 *
 * For each file F in meminfo, vmstat, swaps, uptime, cpuinfo, stat, online:
 *   F_open=<0|-1> F_errno=<errno or 0> and, when it opened, a stable fact of the content
 *   (meminfo: MemTotal and whether MemFree <= MemAvailable <= MemTotal; cpuinfo: processor
 *   blocks; stat: cpuN lines; online: the list; swaps: the header; vmstat: whether every line is
 *   `name value`; uptime: whether it has the kernel's shape).
 * meminfo is also read through fopen, openat, pread at 0 and lseek(0)+read.
 * Then: sysinfo (totalram, mem_unit, totalswap, and the raw syscall's totalram), sysconf
 * (_SC_PHYS_PAGES, _SC_NPROCESSORS_ONLN), get_nprocs, get_phys_pages. Exit status 0. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static char buf[1 << 20];

static unsigned long long field(const char *key) {
    const char *p = strstr(buf, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

static ssize_t slurp(int fd) {
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
    buf[n] = 0;
    return r < 0 ? -1 : (ssize_t)n;
}

static int count_prefix(const char *prefix, int digit) {
    int n = 0;
    size_t l = strlen(prefix);
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, prefix, l) && (!digit || isdigit((unsigned char)p[l]))) n++;
    return n;
}

static void meminfo_facts(const char *how) {
    unsigned long long t = field("MemTotal:"), f = field("MemFree:"), a = field("MemAvailable:");
    printf("meminfo_%s_MemTotal=%llu\nmeminfo_%s_ordered=%d\n", how, t, how, f <= a && a <= t);
}

static void file(const char *name, const char *path) {
    errno = 0;
    int fd = open(path, O_RDONLY);
    printf("%s_open=%d\n%s_errno=%d\n", name, fd < 0 ? -1 : 0, name, fd < 0 ? errno : 0);
    if (fd < 0) return;
    if (slurp(fd) < 0) printf("%s_read_errno=%d\n", name, errno);
    if (!strcmp(name, "meminfo")) {
        meminfo_facts("open");
        lseek(fd, 0, SEEK_SET);
        slurp(fd);
        meminfo_facts("rewound");
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = 0;
        meminfo_facts("pread");
    } else if (!strcmp(name, "cpuinfo")) {
        printf("cpuinfo_processors=%d\n", count_prefix("processor\t:", 0));
    } else if (!strcmp(name, "stat")) {
        printf("stat_cpu_lines=%d\nstat_aggregate=%d\n", count_prefix("cpu", 1), !strncmp(buf, "cpu  ", 5));
    } else if (!strcmp(name, "online")) {
        printf("online=%s", buf);
    } else if (!strcmp(name, "swaps")) {
        char *nl = strchr(buf, '\n');
        if (nl) *nl = 0;
        printf("swaps_header=%s\n", buf);
    } else if (!strcmp(name, "vmstat")) {
        int ok = buf[0] != 0;
        for (char *p = buf; *p;) {
            char *s = p;
            while (*p == '_' || islower((unsigned char)*p) || isdigit((unsigned char)*p)) p++;
            if (p == s || *p++ != ' ' || !isdigit((unsigned char)*p)) { ok = 0; break; }
            while (isdigit((unsigned char)*p)) p++;
            if (*p++ != '\n') { ok = 0; break; }
        }
        printf("vmstat_wellformed=%d\n", ok);
    } else if (!strcmp(name, "uptime")) {
        double a, b;
        char c;
        printf("uptime_wellformed=%d\n", sscanf(buf, "%lf %lf%c", &a, &b, &c) == 3 && c == '\n');
    }
    close(fd);
}

int main(void) {
    file("meminfo", "/proc/meminfo");
    file("vmstat", "/proc/vmstat");
    file("swaps", "/proc/swaps");
    file("uptime", "/proc/uptime");
    file("cpuinfo", "/proc/cpuinfo");
    file("stat", "/proc/stat");
    file("online", "/sys/devices/system/cpu/online");

    errno = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    printf("fopen_ok=%d\nfopen_errno=%d\n", f != NULL, f ? 0 : errno);
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        meminfo_facts("fopen");
        fclose(f);
    }
    errno = 0;
    int fd = openat(AT_FDCWD, "/proc/meminfo", O_RDONLY | O_CLOEXEC);
    printf("openat_ok=%d\nopenat_errno=%d\n", fd >= 0, fd >= 0 ? 0 : errno);
    if (fd >= 0) {
        slurp(fd);
        meminfo_facts("openat");
        close(fd);
    }

    struct sysinfo si, raw;
    memset(&si, 0, sizeof si);
    int r = sysinfo(&si);
    syscall(SYS_sysinfo, &raw);
    printf("sysinfo_ret=%d\ntotalram=%lu\nmem_unit=%u\ntotalswap=%lu\nraw_totalram=%lu\nfree_le_total=%d\n", r,
           si.totalram, si.mem_unit, si.totalswap, raw.totalram, si.freeram <= si.totalram);
    printf("sc_phys_pages=%ld\nsc_nprocessors_onln=%ld\nget_nprocs=%d\nget_phys_pages=%ld\n",
           sysconf(_SC_PHYS_PAGES), sysconf(_SC_NPROCESSORS_ONLN), get_nprocs(), get_phys_pages());
    return 0;
}
