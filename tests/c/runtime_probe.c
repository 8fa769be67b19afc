/* What a program in a container sees, as key=value lines, for tests/runtime.rs. Built three
 * ways: with gcc (glibc, dynamic), with musl-gcc (the only program of a musl-only image) and
 * with gcc -static (out of any preload library's reach, which must still run untouched).
 * Plain C and libc only, so that it builds against musl.
 *
 *   runtime_probe          print the lines below and exit 0
 *   runtime_probe sleep    sleep for ten minutes (a container's main process to exec into)
 *
 * keys: totalram (sysinfo, bytes), nprocs (sysconf _SC_NPROCESSORS_ONLN), memtotal_kb (the
 *       MemTotal line of /proc/meminfo), ld_preload (the variable, or "-"), uid, mapped (1 when
 *       a libcgshim.so is mapped into this process), other (1 when a libother.so is: the
 *       image's own preloaded library), mounted (1 when /proc/self/mountinfo lists a mount at
 *       /usr/lib/cgshim/libcgshim.so) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

static int file_has(const char *path, const char *needle) {
    char line[4096];
    int found = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) found = 1;
    fclose(f);
    return found;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
        sleep(600);
        return 0;
    }
    struct sysinfo s;
    if (sysinfo(&s) != 0) { perror("sysinfo"); return 2; }
    unsigned long long unit = s.mem_unit ? s.mem_unit : 1;
    printf("totalram=%llu\n", (unsigned long long)s.totalram * unit);
    printf("nprocs=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    char line[256];
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) { perror("/proc/meminfo"); return 2; }
    while (fgets(line, sizeof line, f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) printf("memtotal_kb=%llu\n", kb);
    }
    fclose(f);
    const char *preload = getenv("LD_PRELOAD");
    printf("ld_preload=%s\n", preload ? preload : "-");
    printf("uid=%u\n", (unsigned)getuid());
    printf("mapped=%d\n", file_has("/proc/self/maps", "libcgshim.so"));
    printf("other=%d\n", file_has("/proc/self/maps", "libother.so"));
    printf("mounted=%d\n", file_has("/proc/self/mountinfo", " /usr/lib/cgshim/libcgshim.so "));
    return 0;
}
