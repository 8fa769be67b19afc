/* What libc tells a dynamically linked C program, as key=value lines, for the Docker suite
 * (scripts/docker/check.sh). It must stay dynamically linked: a static binary makes its own
 * system calls and libcgshim.so cannot reach it.
 *
 * keys: sysinfo_totalram sysinfo_freeram sysinfo_totalswap sysinfo_freeswap (bytes, mem_unit
 *       applied), sysinfo_uptime, sysinfo_procs, raw_totalram raw_uptime raw_procs (the raw
 *       system call, out of the library's reach: the kernel's answer), sc_phys_pages
 *       sc_avphys_pages sc_pagesize sc_nprocessors_onln sc_nprocessors_conf, get_nprocs
 *       get_nprocs_conf get_phys_pages get_avphys_pages */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void) {
    struct sysinfo s, raw;
    if (sysinfo(&s) != 0) { perror("sysinfo"); return 2; }
    if (syscall(SYS_sysinfo, &raw) != 0) { perror("SYS_sysinfo"); return 2; }
    unsigned long long u = s.mem_unit ? s.mem_unit : 1, ru = raw.mem_unit ? raw.mem_unit : 1;
    printf("sysinfo_totalram=%llu\n", (unsigned long long)s.totalram * u);
    printf("sysinfo_freeram=%llu\n", (unsigned long long)s.freeram * u);
    printf("sysinfo_totalswap=%llu\n", (unsigned long long)s.totalswap * u);
    printf("sysinfo_freeswap=%llu\n", (unsigned long long)s.freeswap * u);
    printf("sysinfo_uptime=%ld\nsysinfo_procs=%u\n", s.uptime, (unsigned)s.procs);
    printf("raw_totalram=%llu\nraw_uptime=%ld\nraw_procs=%u\n", (unsigned long long)raw.totalram * ru,
           raw.uptime, (unsigned)raw.procs);
    printf("sc_phys_pages=%ld\nsc_avphys_pages=%ld\nsc_pagesize=%ld\n", sysconf(_SC_PHYS_PAGES),
           sysconf(_SC_AVPHYS_PAGES), sysconf(_SC_PAGESIZE));
    printf("sc_nprocessors_onln=%ld\nsc_nprocessors_conf=%ld\n", sysconf(_SC_NPROCESSORS_ONLN),
           sysconf(_SC_NPROCESSORS_CONF));
    printf("get_nprocs=%d\nget_nprocs_conf=%d\n", get_nprocs(), get_nprocs_conf());
    printf("get_phys_pages=%ld\nget_avphys_pages=%ld\n", get_phys_pages(), get_avphys_pages());
    return 0;
}
