/* What a program that bypasses the dynamic loader sees of the machine, for tests/supervise.rs.
 * Built with `musl-gcc -static` (the supervisor's case) and with gcc (the library's case), from
 * the same source, so that the two ways in can be compared number for number.
 *
 *   static_probe info
 *       key=value lines: sysinfo_totalram sysinfo_freeram (bytes: the field * mem_unit),
 *       sc_nprocessors_onln, sc_phys_bytes (_SC_PHYS_PAGES * _SC_PAGESIZE), affinity_count and
 *       affinity_list (sched_getaffinity), meminfo_memtotal_kb, cpuinfo_processors and
 *       cpuinfo_list (the `processor` lines of /proc/cpuinfo), online
 *       (/sys/devices/system/cpu/online), stat_cpus (cpuN lines of /proc/stat),
 *       status_cpus_allowed_list (/proc/self/status).
 *   static_probe open PATH FLAGS
 *       open(PATH, FLAGS) with FLAGS a comma list of rdonly, wronly, rdwr, directory, cloexec,
 *       nofollow;
 *       prints `open=ok` or `open=ERRNO_NAME`.
 *   static_probe threads THREADS ITERATIONS FILE
 *       prints `fds_before=N`, waits for a line on stdin, then every thread opens, reads and
 *       closes /proc/meminfo and FILE ITERATIONS times each; prints `errors=E` (failed calls),
 *       `mismatches=M` (a MemTotal unlike the first one, or FILE's bytes unlike the first read),
 *       `memtotal_kb=K`, `fds_after=N`, and waits for another line before exiting.
 *   static_probe loop SECONDS
 *       prints `pid=P`, then opens and reads /proc/meminfo until SECONDS have passed; prints
 *       `loops=N` and exits 0 (or 3 on the first failed call, naming it on stderr).
 *   static_probe loop SECONDS ignore
 *       the same with SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGPIPE ignored.
 *   static_probe signals
 *       prints `pid=P ppid=Q`, handles SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH and
 *       SIGCONT by printing `got=NAME`, and SIGTERM by printing `got=TERM` and exiting with 42.
 *   static_probe fds
 *       what the served fds look like, as key=value lines: two opens of /proc/meminfo read in
 *       turn (`second_open_starts=` the first 9 bytes of the second fd after 100 bytes were
 *       read from the first; `first_continues=` whether the first fd went on where it was),
 *       `cloexec_default=` and `cloexec_asked=` (FD_CLOEXEC without and with O_CLOEXEC),
 *       `accmode=` (O_RDONLY, O_WRONLY, O_RDWR), `write=` (errno of a write to it),
 *       `openat_dirfd=` (MemTotal kB through openat of "meminfo" in an fd of /proc),
 *       `pid_status=` (Cpus_allowed_list of /proc/<own pid>/status), `thread_status=` (the same
 *       of /proc/thread-self/status), `cpuN_online=` (/sys/devices/system/cpu/cpuN/online, for
 *       every N below 64 that has the file).
 *   static_probe edges
 *       calls given arguments the kernel rejects or answers oddly, as key=value lines of
 *       `ret/ERRNO` (ret -1 with the errno name, else the return value): sysinfo(bad pointer),
 *       sched_getaffinity(0, N, buf) for N = 4, 8, 12, 128, 1024 (the raw system call, which
 *       returns the bytes written) with the mask, sched_getaffinity(0, 128, bad pointer),
 *       sched_getaffinity(1, 128, buf) (another process: its real mask) and of a pid that does
 *       not exist, open(bad pointer), openat(bad fd, "meminfo"), open of a path longer than
 *       PATH_MAX.
 *   static_probe exit CODE | abort | segv
 *       exits with CODE, or dies of SIGABRT / SIGSEGV. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

static const char *errno_name(int e) {
    switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EINTR: return "EINTR";
    case ENOSYS: return "ENOSYS";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case EMFILE: return "EMFILE";
    case EBUSY: return "EBUSY";
    case EFAULT: return "EFAULT";
    case ESRCH: return "ESRCH";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    default: return "OTHER";
    }
}

/* The whole file at PATH into buf (NUL-terminated); its length, or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0) {
            close(fd);
            return -1;
        }
        if (n == 0) break;
        len += (size_t)n;
        if (len == size - 1) break;
    }
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

static unsigned long long memtotal_kb(const char *buf) {
    const char *p = strstr(buf, "MemTotal:");
    return p ? strtoull(p + 9, NULL, 10) : 0;
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static int info(void) {
    static char buf[1 << 20];
    struct sysinfo si;
    if (sysinfo(&si) != 0) {
        perror("sysinfo");
        return 2;
    }
    printf("sysinfo_totalram=%llu\n", (unsigned long long)si.totalram * si.mem_unit);
    printf("sysinfo_freeram=%llu\n", (unsigned long long)si.freeram * si.mem_unit);
    printf("sc_nprocessors_onln=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("sc_phys_bytes=%llu\n", (unsigned long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE));

    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        perror("sched_getaffinity");
        return 2;
    }
    printf("affinity_count=%d\naffinity_list=", CPU_COUNT(&set));
    for (int c = 0, first = 1; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            printf(first ? "%d" : ",%d", c);
            first = 0;
        }
    printf("\n");

    if (slurp("/proc/meminfo", buf, sizeof buf) < 0) {
        perror("/proc/meminfo");
        return 2;
    }
    printf("meminfo_memtotal_kb=%llu\n", memtotal_kb(buf));

    if (slurp("/proc/cpuinfo", buf, sizeof buf) < 0) {
        perror("/proc/cpuinfo");
        return 2;
    }
    int processors = 0;
    printf("cpuinfo_list=");
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (!strncmp(line, "processor", 9)) {
            char *colon = strchr(line, ':');
            printf(processors ? ",%ld" : "%ld", colon ? strtol(colon + 1, NULL, 10) : -1L);
            processors++;
        }
    }
    printf("\ncpuinfo_processors=%d\n", processors);

    if (slurp("/sys/devices/system/cpu/online", buf, sizeof buf) < 0) {
        perror("/sys/devices/system/cpu/online");
        return 2;
    }
    buf[strcspn(buf, "\n")] = 0;
    printf("online=%s\n", buf);

    if (slurp("/proc/stat", buf, sizeof buf) < 0) {
        perror("/proc/stat");
        return 2;
    }
    int stat_cpus = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, "cpu", 3) && line[3] >= '0' && line[3] <= '9') stat_cpus++;
    printf("stat_cpus=%d\n", stat_cpus);

    if (slurp("/proc/self/status", buf, sizeof buf) < 0) {
        perror("/proc/self/status");
        return 2;
    }
    char *allowed = strstr(buf, "Cpus_allowed_list:");
    if (allowed) {
        allowed += strlen("Cpus_allowed_list:");
        allowed += strspn(allowed, " \t");
        allowed[strcspn(allowed, "\n")] = 0;
    }
    printf("status_cpus_allowed_list=%s\n", allowed ? allowed : "");
    return 0;
}

static int open_flags(const char *path, const char *flags) {
    int f = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", flags);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (!strcmp(tok, "rdonly")) f |= O_RDONLY;
        else if (!strcmp(tok, "wronly")) f |= O_WRONLY;
        else if (!strcmp(tok, "rdwr")) f |= O_RDWR;
        else if (!strcmp(tok, "directory")) f |= O_DIRECTORY;
        else if (!strcmp(tok, "cloexec")) f |= O_CLOEXEC;
        else if (!strcmp(tok, "nofollow")) f |= O_NOFOLLOW;
        else {
            fprintf(stderr, "static_probe: unknown flag %s\n", tok);
            return 64;
        }
    }
    int fd = open(path, f);
    if (fd < 0) {
        printf("open=%s\n", errno_name(errno));
    } else {
        printf("open=ok\n");
        close(fd);
    }
    return 0;
}

static int iterations;
static const char *plain_file;
static int errors, mismatches;
static unsigned long long first_memtotal;
static char first_plain[4096];
static ssize_t first_plain_len = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void note(int *counter, const char *what, int err) {
    pthread_mutex_lock(&lock);
    if (errors + mismatches < 5) fprintf(stderr, "static_probe: %s (%s)\n", what, errno_name(err));
    (*counter)++;
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg) {
    (void)arg;
    char buf[16384];
    for (int i = 0; i < iterations; i++) {
        ssize_t n = slurp("/proc/meminfo", buf, sizeof buf);
        if (n < 0) {
            note(&errors, "reading /proc/meminfo failed", errno);
        } else {
            unsigned long long t = memtotal_kb(buf);
            pthread_mutex_lock(&lock);
            if (!first_memtotal) first_memtotal = t;
            int same = t != 0 && t == first_memtotal;
            pthread_mutex_unlock(&lock);
            if (!same) note(&mismatches, "MemTotal differs from the first read", 0);
        }
        n = slurp(plain_file, buf, sizeof buf);
        if (n < 0) {
            note(&errors, "reading the plain file failed", errno);
        } else {
            pthread_mutex_lock(&lock);
            if (first_plain_len < 0) {
                memcpy(first_plain, buf, (size_t)n < sizeof first_plain ? (size_t)n : sizeof first_plain);
                first_plain_len = n;
            }
            int same = n == first_plain_len && !memcmp(buf, first_plain, (size_t)n);
            pthread_mutex_unlock(&lock);
            if (!same) note(&mismatches, "the plain file's bytes differ from the first read", 0);
        }
    }
    return NULL;
}

static void wait_for_line(void) {
    char c;
    while (read(0, &c, 1) == 1 && c != '\n') {
    }
}

static int threads(int count, int iters, const char *file) {
    iterations = iters;
    plain_file = file;
    printf("fds_before=%d\n", count_fds());
    fflush(stdout);
    wait_for_line();
    pthread_t tids[256];
    if (count > 256) count = 256;
    for (int i = 0; i < count; i++)
        if (pthread_create(&tids[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "static_probe: pthread_create failed\n");
            return 2;
        }
    for (int i = 0; i < count; i++) pthread_join(tids[i], NULL);
    printf("errors=%d\nmismatches=%d\nmemtotal_kb=%llu\nfds_after=%d\n", errors, mismatches, first_memtotal,
           count_fds());
    fflush(stdout);
    wait_for_line();
    return 0;
}

static int loop(int seconds, int ignore) {
    static char buf[16384];
    if (ignore) {
        int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_IGN);
    }
    printf("pid=%d\n", (int)getpid());
    fflush(stdout);
    time_t end = time(NULL) + seconds;
    long loops = 0;
    while (time(NULL) < end) {
        if (slurp("/proc/meminfo", buf, sizeof buf) < 0) {
            fprintf(stderr, "static_probe: reading /proc/meminfo failed (%s)\n", errno_name(errno));
            return 3;
        }
        loops++;
    }
    printf("loops=%ld\n", loops);
    return 0;
}

static const char *status_allowed(const char *path, char *buf, size_t size) {
    if (slurp(path, buf, size) < 0) return "unreadable";
    char *allowed = strstr(buf, "Cpus_allowed_list:");
    if (!allowed) return "none";
    allowed += strlen("Cpus_allowed_list:");
    allowed += strspn(allowed, " \t");
    allowed[strcspn(allowed, "\n")] = 0;
    return allowed;
}

static int fds(void) {
    static char buf[65536];
    char a[128], b[16];
    int fd1 = open("/proc/meminfo", O_RDONLY);
    int fd2 = open("/proc/meminfo", O_RDONLY);
    if (fd1 < 0 || fd2 < 0) {
        perror("open /proc/meminfo");
        return 2;
    }
    ssize_t n1 = read(fd1, a, 100);
    ssize_t n2 = read(fd2, b, 9);
    b[n2 > 0 ? n2 : 0] = 0;
    printf("second_open_starts=%s\n", b);
    char whole[16384];
    ssize_t all = slurp("/proc/meminfo", whole, sizeof whole);
    char next[16];
    ssize_t n3 = read(fd1, next, 9);
    printf("first_continues=%d\n", n1 == 100 && n3 == 9 && all > 109 && !memcmp(next, whole + 100, 9));
    close(fd1);
    close(fd2);

    int fd = open("/proc/meminfo", O_RDONLY);
    printf("cloexec_default=%d\n", fd < 0 ? -1 : !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
    int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
    printf("accmode=%s\n", acc == O_RDONLY ? "O_RDONLY" : acc == O_WRONLY ? "O_WRONLY" : "O_RDWR");
    printf("write=%s\n", write(fd, "x", 1) < 0 ? errno_name(errno) : "written");
    close(fd);
    fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    printf("cloexec_asked=%d\n", fd < 0 ? -1 : !!(fcntl(fd, F_GETFD) & FD_CLOEXEC));
    close(fd);

    int dir = open("/proc", O_RDONLY | O_DIRECTORY);
    fd = openat(dir, "meminfo", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("openat_dirfd=%llu\n", memtotal_kb(buf));
    close(fd);
    close(dir);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
    printf("pid_status=%s\n", status_allowed(path, buf, sizeof buf));
    printf("thread_status=%s\n", status_allowed("/proc/thread-self/status", buf, sizeof buf));
    for (int cpu = 0; cpu < 64; cpu++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/online", cpu);
        if (slurp(path, buf, sizeof buf) >= 0) printf("cpu%d_online=%ld\n", cpu, strtol(buf, NULL, 10));
    }
    return 0;
}

static void result(const char *key, long ret) {
    if (ret < 0)
        printf("%s=-1/%s\n", key, errno_name(errno));
    else
        printf("%s=%ld\n", key, ret);
}

static int edges(void) {
    void *bad = (void *)16;
    result("sysinfo_bad_pointer", syscall(SYS_sysinfo, bad));
    size_t sizes[] = {4, 8, 12, 128, 1024};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char mask[1024];
        memset(mask, 0xee, sizeof mask);
        char key[64];
        snprintf(key, sizeof key, "affinity_%zu", sizes[i]);
        long r = syscall(SYS_sched_getaffinity, 0, sizes[i], mask);
        result(key, r);
        /* The first byte written, and the first byte after the part written (untouched). */
        printf("%s_first_byte=%u\n%s_byte_after=%u\n", key, mask[0], key, r > 0 && r < 1024 ? mask[r] : 0);
    }
    result("affinity_bad_pointer", syscall(SYS_sched_getaffinity, 0, 128, bad));
    unsigned char mask[128];
    memset(mask, 0, sizeof mask);
    long r = syscall(SYS_sched_getaffinity, 1, sizeof mask, mask);
    result("affinity_pid1", r);
    printf("affinity_pid1_first_byte=%u\n", mask[0]);
    result("affinity_no_such_pid", syscall(SYS_sched_getaffinity, 0x3ffffff0, sizeof mask, mask));
    result("open_bad_pointer", syscall(SYS_open, bad, O_RDONLY));
    result("openat_bad_fd", syscall(SYS_openat, 987, "meminfo", O_RDONLY));
    static char longpath[8192];
    memset(longpath, 'a', sizeof longpath - 1);
    memcpy(longpath, "/proc/", 6);
    result("open_too_long", syscall(SYS_open, longpath, O_RDONLY));
    return 0;
}

static void on_signal(int sig) {
    const char *name = sig == SIGHUP ? "HUP" : sig == SIGINT ? "INT" : sig == SIGQUIT ? "QUIT"
        : sig == SIGUSR1 ? "USR1" : sig == SIGUSR2 ? "USR2" : sig == SIGWINCH ? "WINCH"
        : sig == SIGCONT ? "CONT" : sig == SIGTERM ? "TERM" : "OTHER";
    char line[32];
    size_t n = 0;
    for (const char *p = "got="; *p; p++) line[n++] = *p;
    for (const char *p = name; *p; p++) line[n++] = *p;
    line[n++] = '\n';
    if (write(1, line, n) < 0) _exit(3);
    if (sig == SIGTERM) _exit(42);
}

static int signals(void) {
    int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(sigs[i], &sa, NULL) != 0) {
            perror("sigaction");
            return 2;
        }
    }
    printf("pid=%d ppid=%d\n", (int)getpid(), (int)getppid());
    fflush(stdout);
    for (;;) pause();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "info")) return info();
    if (argc == 4 && !strcmp(argv[1], "open")) return open_flags(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "threads")) return threads(atoi(argv[2]), atoi(argv[3]), argv[4]);
    if (argc == 3 && !strcmp(argv[1], "loop")) return loop(atoi(argv[2]), 0);
    if (argc == 4 && !strcmp(argv[1], "loop") && !strcmp(argv[3], "ignore")) return loop(atoi(argv[2]), 1);
    if (argc == 2 && !strcmp(argv[1], "signals")) return signals();
    if (argc == 2 && !strcmp(argv[1], "fds")) return fds();
    if (argc == 2 && !strcmp(argv[1], "edges")) return edges();
    if (argc == 3 && !strcmp(argv[1], "exit")) return atoi(argv[2]);
    if (argc == 2 && !strcmp(argv[1], "abort")) abort();
    if (argc == 2 && !strcmp(argv[1], "segv")) {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return 99;
    }
    fprintf(stderr, "usage: static_probe info | open PATH FLAGS | threads T N FILE | loop S [ignore] | signals"
                    " | fds | edges | exit N | abort | segv\n");
    return 64;
}
