/* "Do no harm" cases: each runs the same operations plain and under libcgshim.so (the test
 * runs this program both ways) and prints a transcript of everything but the numbers the
 * library means to change, so that the two transcripts must be equal line for line.
 *
 *   noharm CASE [ARG...]
 *
 * Transcript lines are compared exactly. Contents of the served files are never printed as
 * they are: `shape()` prints their line count and a hash of each line's first word, which
 * the container's values leave alone. Lines starting with "value " carry numbers the test
 * checks separately (the container's or the host's, stack bytes) and are left out of the
 * comparison. Builds with gcc and musl-gcc (no kernel headers: the few constants are here). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>
#include <wchar.h>

#ifndef O_PATH
#define O_PATH 010000000
#endif
#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif

/* statx through the C library where it has one (glibc); musl 1.2.3 has none (its programs can
 * only make the system call, which no preloaded library sees). */
struct statx_buf { uint32_t mask, blksize; uint64_t attributes; uint32_t nlink, uid, gid; uint16_t mode, pad;
                   uint64_t ino, size, blocks, attributes_mask; char rest[256 - 64]; };
#ifdef __GLIBC__
#define STATX(fd, path, flags, mask, buf) statx(fd, path, flags, mask, (void *)(buf))
#endif

static const char *const FILES[] = {
    "/proc/meminfo", "/proc/vmstat", "/proc/swaps", "/proc/uptime",
    "/proc/cpuinfo", "/proc/stat", "/sys/devices/system/cpu/online",
};
#define NFILES (sizeof FILES / sizeof FILES[0])

/* ---- transcript ------------------------------------------------------------------------- */

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case ENOSPC: return "ENOSPC";
    case ESPIPE: return "ESPIPE";
    case EROFS: return "EROFS";
    case ELOOP: return "ELOOP";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENXIO: return "ENXIO";
    default: {
        static char b[32];
        snprintf(b, sizeof b, "E#%d", e);
        return b;
    }
    }
}

/* "ok" for a non-negative result, else the errno's name. */
static const char *res(long r, int e) { return r >= 0 ? "ok" : ename(e); }

/* TRY(call): the call's outcome ("ok" or its errno's name), the call made before errno is read. */
static long try_r;
static int try_e;
#define TRY(call) (errno = 0, try_r = (long)(call), try_e = errno, res(try_r, try_e))

/* Line count and a hash of every line's first word. */
static void shape(const char *what, const char *buf, long n) {
    if (n < 0) {
        say("%s: no content", what);
        return;
    }
    uint32_t h = 2166136261u;
    long lines = 0;
    int word = 1;
    for (long i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n') {
            lines++;
            word = 1;
            h = (h ^ '\n') * 16777619u;
        } else if (c == ':' || c == ' ' || c == '\t') {
            word = 0;
        } else if (word == 1 && c >= '0' && c <= '9') {
            word = 0; /* a line starting with a number (uptime, online): its value, not its name */
        } else if (word == 1 && (c == '/' || (n - i >= 5 && memcmp(buf + i, "none ", 5) == 0))) {
            word = 0; /* a /proc/swaps entry: the swap device's path (or "none", the container's
                         allowance) is a value the shim means to change */
        } else if (word) {
            h = (h ^ (unsigned char)c) * 16777619u;
        }
    }
    say("%s: %ld lines, words %08x, ends with newline %d", what, lines, h, n > 0 && buf[n - 1] == '\n');
}

static long read_all(int fd, char *buf, long cap) {
    long n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, (size_t)(cap - n));
        if (r < 0) return -1;
        if (r == 0) return n;
        n += r;
        if (n == cap) return n;
    }
}

static long meminfo_kb(const char *buf, const char *key) {
    const char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key) + 1, NULL, 10) : -1;
}

static char big[1 << 20];

/* ---- 1. stack ------------------------------------------------------------------------- */

static long op_result;

/* One hooked operation; its result goes to op_result. */
static void run_op(const char *op) {
    char buf[8192];
    long r = -1;
    if (!strncmp(op, "open:", 5)) {
        int fd = open(op + 5, O_RDONLY);
        if (fd >= 0) { r = read(fd, buf, sizeof buf); close(fd); }
    } else if (!strncmp(op, "fopen:", 6)) {
        FILE *f = fopen(op + 6, "r");
        if (f) { r = fgets(buf, sizeof buf, f) ? 1 : 0; fclose(f); }
    } else if (!strcmp(op, "sysinfo")) {
        struct sysinfo si;
        r = sysinfo(&si);
    } else if (!strcmp(op, "phys_pages")) {
        r = sysconf(_SC_PHYS_PAGES);
    } else if (!strcmp(op, "nprocessors")) {
        r = sysconf(_SC_NPROCESSORS_ONLN);
    } else if (!strcmp(op, "get_nprocs")) {
        r = get_nprocs();
    } else if (!strcmp(op, "affinity")) {
        cpu_set_t s;
        r = sched_getaffinity(0, sizeof s, &s);
    }
    op_result = r;
}

#define PAINT 0xa5

/* Runs `op` twice on a thread whose (painted) stack we own; reports the bytes of stack the
 * first (cold) and second (warm) call touched. */
struct stack_job { const char *op; size_t cold, warm; char *base; size_t size; };

static size_t touched(const char *base, size_t size) {
    size_t i = 0;
    while (i < size && (unsigned char)base[i] == PAINT) i++;
    return size - i;
}

static void *stack_thread(void *arg) {
    struct stack_job *j = arg;
    run_op(j->op);
    j->cold = touched(j->base, j->size);
    /* Repaint everything below this frame (what the first call used). */
    volatile char here;
    memset(j->base, PAINT, (size_t)((const char *)&here - j->base) - 512);
    run_op(j->op);
    j->warm = touched(j->base, j->size);
    return NULL;
}

static int case_stack_usage(int argc, char **argv) {
    if (argc < 1) return 64;
    struct stack_job j = {.op = argv[0], .size = 1 << 20};
    j.base = mmap(NULL, j.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(j.base, PAINT, j.size);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, j.base, j.size);
    pthread_t t;
    if (pthread_create(&t, &a, stack_thread, &j) != 0) return 2;
    pthread_join(t, NULL);
    say("%s: result %s", argv[0], op_result >= 0 ? "ok" : "failed");
    say("value cold=%zu warm=%zu", j.cold, j.warm);
    return 0;
}

/* Every operation on a thread with a small stack (16 KiB above what the plain call needs is
 * the library's budget; the plain calls need far less than the size given). */
static void *small_thread(void *arg) {
    static const char *ops[] = {"open:/proc/meminfo", "open:/proc/vmstat", "open:/proc/stat",
                                "fopen:/proc/meminfo", "sysinfo", "phys_pages", "nprocessors",
                                "get_nprocs", "affinity"};
    (void)arg;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        run_op(ops[i]);
        say("%s: %s", ops[i], op_result >= 0 ? "ok" : "failed");
    }
    return NULL;
}

static int case_small_stack(int argc, char **argv) {
    size_t size = argc > 0 ? (size_t)strtoul(argv[0], NULL, 0) : 65536;
    pthread_attr_t a;
    pthread_attr_init(&a);
    if (pthread_attr_setstacksize(&a, size) != 0) return 2;
    pthread_t t;
    if (pthread_create(&t, &a, small_thread, NULL) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
}

/* A thread `depth` bytes deep in its own frames before it opens a file. */
static void deep(int depth, const char *op) {
    volatile char pad[1024];
    pad[0] = (char)depth;
    if (depth > 1) {
        deep(depth - 1, op);
    } else {
        run_op(op);
        say("deep %s: %s", op, op_result >= 0 ? "ok" : "failed");
    }
    (void)pad[0];
}

struct deep_job { int kib; const char *op; };

static void *deep_thread(void *arg) {
    struct deep_job *j = arg;
    deep(j->kib, j->op);
    return NULL;
}

/* The default thread stack of the C library (musl: 128 KiB), `kib` KiB deep. */
static int case_deep_thread(int argc, char **argv) {
    if (argc < 2) return 64;
    struct deep_job j = {atoi(argv[0]), argv[1]};
    pthread_t t;
    if (pthread_create(&t, NULL, deep_thread, &j) != 0) return 2;
    pthread_join(t, NULL);
    return 0;
}

static volatile sig_atomic_t handled;

static void on_signal(int sig) {
    (void)sig;
    char buf[8192];
    int fd = open("/proc/meminfo", O_RDONLY);
    long n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd >= 0) close(fd);
    struct sysinfo si;
    handled = (n > 0 && sysinfo(&si) == 0 && sysconf(_SC_PHYS_PAGES) > 0) ? 1 : 2;
}

/* A handler on a 16 KiB alternate stack opens, reads, asks sysinfo and sysconf. */
static int case_sigaltstack(int argc, char **argv) {
    (void)argc, (void)argv;
    size_t size = 16384;
    stack_t ss = {.ss_sp = malloc(size), .ss_size = size};
    if (sigaltstack(&ss, NULL) != 0) return 2;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    say("handler on a 16 KiB sigaltstack: %s", handled == 1 ? "ok" : "failed");
    return 0;
}

/* ---- 2. bad pointers ------------------------------------------------------------------ */

extern int __open_2(const char *, int);

static int case_bad_pointers(int argc, char **argv) {
    (void)argc, (void)argv;
    void *bad = (void *)1;
    int fd, e;
    errno = 0; fd = open(bad, O_RDONLY); e = errno; say("open(bad path): %s", res(fd, e));
    errno = 0; fd = openat(AT_FDCWD, bad, O_RDONLY); e = errno; say("openat(bad path): %s", res(fd, e));
    errno = 0; FILE *f = fopen(bad, "r"); e = errno; say("fopen(bad path): %s", f ? "ok" : ename(e));
    errno = 0; long r = sysinfo(bad); e = errno; say("sysinfo(bad): %s", res(r, e));
    errno = 0; r = sched_getaffinity(0, 128, bad); e = errno; say("sched_getaffinity(bad mask): %s", res(r, e));
    for (size_t i = 0; i < NFILES; i++) {
        int k = open(FILES[i], O_RDONLY);
        errno = 0; r = read(k, bad, 4096); e = errno; say("%s read(bad buf): %s", FILES[i], res(r, e));
        errno = 0; r = pread(k, bad, 4096, 0); e = errno; say("%s pread(bad buf): %s", FILES[i], res(r, e));
        errno = 0; r = readv(k, bad, 1); e = errno; say("%s readv(bad iov): %s", FILES[i], res(r, e));
        struct iovec iov = {bad, 4096};
        errno = 0; r = readv(k, &iov, 1); e = errno; say("%s readv(bad base): %s", FILES[i], res(r, e));
        errno = 0; r = preadv(k, &iov, 1, 0); e = errno; say("%s preadv(bad base): %s", FILES[i], res(r, e));
        /* A buffer that ends right after 100 good bytes: the rest is unmapped. */
        char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(page + 4096, 4096);
        lseek(k, 0, SEEK_SET);
        errno = 0; r = read(k, page + 4096 - 100, 4096); e = errno;
        say("%s read(100 good bytes, then unmapped): %s, full %d", FILES[i], res(r, e), r == 100);
        munmap(page, 4096);
        int out = open("/dev/null", O_WRONLY);
        errno = 0; r = sendfile(out, k, bad, 100); e = errno; say("%s sendfile(bad offset): %s", FILES[i], res(r, e));
        close(out);
        FILE *s = fopen(FILES[i], "r");
        errno = 0; r = fstat(fileno(s), bad); e = errno; say("%s fstat(stream fd, bad): %s", FILES[i], res(r, e));
        errno = 0; r = fstatfs(fileno(s), bad); e = errno; say("%s fstatfs(stream fd, bad): %s", FILES[i], res(r, e));
        char link[64];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fileno(s));
        errno = 0; r = readlink(link, bad, 100); e = errno; say("%s readlink(stream fd, bad): %s", FILES[i], res(r, e));
        fclose(s);
        close(k);
    }
    return 0;
}

/* ---- 3. a file bind-mounted over /proc/meminfo ----------------------------------------- */

static uint32_t fnv(const char *b, long n) {
    uint32_t h = 2166136261u;
    for (long i = 0; i < n; i++) h = (h ^ (unsigned char)b[i]) * 16777619u;
    return h;
}

/* Reads the files named in `order` (comma list: meminfo, ./meminfo, vmstat, swaps, sysinfo) and
 * prints meminfo's exact bytes hash (it is someone else's file: never to be changed). */
static int case_meminfo_order(int argc, char **argv) {
    if (argc < 1) return 64;
    char order[256];
    snprintf(order, sizeof order, "%s", argv[0]);
    for (char *t = strtok(order, ","); t; t = strtok(NULL, ",")) {
        if (!strcmp(t, "sysinfo")) {
            struct sysinfo si;
            sysinfo(&si);
            say("sysinfo: ok");
            continue;
        }
        char path[64];
        if (!strcmp(t, "./meminfo")) {
            chdir("/proc");
            snprintf(path, sizeof path, "./meminfo");
        } else if (!strcmp(t, "fopen-meminfo")) {
            FILE *f = fopen("/proc/meminfo", "r");
            long n = f ? (long)fread(big, 1, sizeof big, f) : -1;
            if (f) fclose(f);
            say("fopen /proc/meminfo: %ld bytes, hash %08x", n, fnv(big, n));
            continue;
        } else {
            snprintf(path, sizeof path, "/proc/%s", t);
        }
        int fd = open(path, O_RDONLY);
        long n = fd >= 0 ? read_all(fd, big, sizeof big) : -1;
        if (fd >= 0) close(fd);
        if (strstr(t, "meminfo"))
            say("%s: %ld bytes, hash %08x", path, n, fnv(big, n));
        else
            shape(path, big, n);
    }
    return 0;
}

/* ---- 4. seccomp ------------------------------------------------------------------------- */

struct filt { unsigned short code; unsigned char jt, jf; unsigned int k; };
struct fprog { unsigned short len; struct filt *filter; };
#define LD_NR 0x20        /* BPF_LD | BPF_W | BPF_ABS */
#define JEQ 0x15          /* BPF_JMP | BPF_JEQ | BPF_K */
#define RET 0x06          /* BPF_RET | BPF_K */
#define RET_KILL 0x80000000u
#define RET_ALLOW 0x7fff0000u
#define SECCOMP_MODE_FILTER_ 2
#define SECCOMP_SET_MODE_FILTER_ 1

static int install(struct filt *f, int n, const char *how) {
    struct fprog p = {(unsigned short)n, f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (!strcmp(how, "syscall")) return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, 0, &p);
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER_, &p, 0, 0);
}

/* What a self-sandboxed program does after its filter is in place. */
static void sandboxed_work(void) {
    char buf[8192];
    int fd = open("/proc/meminfo", O_RDONLY);
    long n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    shape("open+read /proc/meminfo", buf, n);
    if (fd >= 0) {
        lseek(fd, 0, SEEK_SET);
        n = read(fd, buf, sizeof buf);
        shape("rewind+read", buf, n);
        close(fd);
    }
    FILE *f = fopen("/proc/meminfo", "r");
    n = f ? (long)fread(buf, 1, sizeof buf, f) : -1;
    shape("fopen+fread /proc/meminfo", buf, n);
    if (f) {
        rewind(f);
        n = (long)fread(buf, 1, sizeof buf, f);
        shape("rewind+fread", buf, n);
        fclose(f);
    }
    struct sysinfo si;
    say("sysinfo: %s", TRY(sysinfo(&si)));
    say("sysconf(_SC_PHYS_PAGES) > 0: %d", sysconf(_SC_PHYS_PAGES) > 0);
    say("get_nprocs > 0: %d", get_nprocs() > 0);
}

/* An allowlist with KILL for everything else: just what the program above needs plain. */
static int case_seccomp_allowlist(int argc, char **argv) {
    const char *how = argc > 0 ? argv[0] : "prctl";
    static const int allowed[] = {
        SYS_read, SYS_write, SYS_openat, SYS_close, SYS_fstat, SYS_newfstatat, SYS_lseek,
        SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_exit, SYS_exit_group, SYS_rt_sigreturn,
        SYS_sysinfo, SYS_futex, SYS_getrandom, SYS_sched_getaffinity, SYS_readv, SYS_writev,
        SYS_ioctl, SYS_fcntl,
#ifdef SYS_open
        SYS_open,
#endif
    };
    enum { N = sizeof allowed / sizeof allowed[0] };
    struct filt f[N + 3];
    f[0] = (struct filt){LD_NR, 0, 0, 0};
    for (int i = 0; i < N; i++) f[1 + i] = (struct filt){JEQ, (unsigned char)(N - i), 0, (unsigned)allowed[i]};
    f[N + 1] = (struct filt){RET, 0, 0, RET_KILL};
    f[N + 2] = (struct filt){RET, 0, 0, RET_ALLOW};
    /* Warm the C library's own lazy set-up (stdio buffers, malloc) before the filter. */
    say("installing an allowlist of %d system calls through %s", N, how);
    if (install(f, N + 3, how) != 0) { perror("seccomp"); return 2; }
    sandboxed_work();
    return 0;
}

/* Everything allowed except memfd_create, which kills. */
static int case_seccomp_kill_memfd(int argc, char **argv) {
    const char *how = argc > 0 ? argv[0] : "prctl";
    struct filt f[] = {
        {LD_NR, 0, 0, 0},
        {JEQ, 0, 1, SYS_memfd_create},
        {RET, 0, 0, RET_KILL},
        {RET, 0, 0, RET_ALLOW},
    };
    say("installing a filter that kills memfd_create through %s", how);
    if (install(f, 4, how) != 0) { perror("seccomp"); return 2; }
    sandboxed_work();
    return 0;
}

/* ---- 5. fd exhaustion -------------------------------------------------------------------- */

struct seen { long memtotal_kb, file_total_kb; unsigned long sys_total; long phys, nproc, nprocs; int open_res; };

static void look(struct seen *s, int use_fopen) {
    struct sysinfo si;
    sysinfo(&si);
    s->sys_total = si.totalram * si.mem_unit;
    s->phys = sysconf(_SC_PHYS_PAGES);
    s->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    s->nprocs = get_nprocs();
    s->file_total_kb = -1;
    errno = 0;
    if (use_fopen) {
        FILE *f = fopen("/proc/meminfo", "r");
        s->open_res = f ? 0 : errno;
        if (f) {
            long n = (long)fread(big, 1, sizeof big - 1, f);
            big[n > 0 ? n : 0] = 0;
            s->file_total_kb = meminfo_kb(big, "MemTotal");
            fclose(f);
        }
    } else {
        int fd = open("/proc/meminfo", O_RDONLY);
        s->open_res = fd >= 0 ? 0 : errno;
        if (fd >= 0) {
            long n = read(fd, big, sizeof big - 1);
            big[n > 0 ? n : 0] = 0;
            s->file_total_kb = meminfo_kb(big, "MemTotal");
            close(fd);
        }
    }
}

static void report(const char *what, struct seen *s) {
    say("%s: open %s", what, ename(s->open_res));
    if (s->open_res == 0)
        say("%s: file and sysinfo agree %d", what, (unsigned long)s->file_total_kb * 1024 == s->sys_total);
    say("%s: sysinfo and sysconf agree %d", what,
        (unsigned long)s->phys * (unsigned long)sysconf(_SC_PAGESIZE) == s->sys_total);
    say("value %s MemTotal=%ld totalram=%lu phys=%ld nproc=%ld get_nprocs=%ld", what, s->file_total_kb,
        s->sys_total, s->phys, s->nproc, s->nprocs);
}

/* RLIMIT_NOFILE lowered to N (soft only, or soft and hard) before anything is asked. */
static int case_rlimit(int argc, char **argv) {
    if (argc < 3) return 64;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = strtoul(argv[0], NULL, 0);
    if (!strcmp(argv[1], "hard")) rl.rlim_max = rl.rlim_cur;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) { perror("setrlimit"); return 2; }
    struct seen s;
    look(&s, !strcmp(argv[2], "fopen"));
    report("first look", &s);
    look(&s, !strcmp(argv[2], "fopen"));
    report("second look", &s);
    return 0;
}

/* Answers before, during and after the fd table is full: a transient EMFILE must not change
 * them. */
static int case_emfile_transient(int argc, char **argv) {
    (void)argc, (void)argv;
    struct seen before, during, after;
    look(&before, 0);
    int fds[65536], n = 0;
    int fd = open("/proc/meminfo", O_RDONLY); /* kept open: its rewinds while full */
    read(fd, big, sizeof big);
    while (n < 65536 && (fds[n] = dup(0)) >= 0) n++;
    say("filled the fd table: %s", ename(errno));
    look(&during, 0);
    lseek(fd, 0, SEEK_SET);
    long r = read(fd, big, sizeof big - 1);
    big[r > 0 ? r : 0] = 0;
    long rewound_kb = meminfo_kb(big, "MemTotal");
    while (n > 0) close(fds[--n]);
    look(&after, 0);
    report("before", &before);
    say("during: open %s", ename(during.open_res));
    say("during: same sysinfo %d, phys %d, nproc %d, get_nprocs %d", during.sys_total == before.sys_total,
        during.phys == before.phys, during.nproc == before.nproc, during.nprocs == before.nprocs);
    say("during: a rewound read gives the same total %d", rewound_kb * 1024 == (long)before.sys_total);
    say("after: same sysinfo %d, phys %d, nproc %d, get_nprocs %d, file %d", after.sys_total == before.sys_total,
        after.phys == before.phys, after.nproc == before.nproc, after.nprocs == before.nprocs,
        after.file_total_kb == before.file_total_kb);
    return 0;
}

/* ---- 6. flags and modes ------------------------------------------------------------------ */

static void try_flags(const char *path, const char *name, int flags) {
    errno = 0;
    int fd = open(path, flags, 0644);
    int e = errno;
    if (fd < 0) {
        say("open(%s, %s): %s", path, name, ename(e));
        return;
    }
    int fdfl = fcntl(fd, F_GETFD), fl = fcntl(fd, F_GETFL);
    errno = 0;
    long n = read(fd, big, sizeof big);
    e = errno;
    say("open(%s, %s): fd ok, cloexec %d, flags %o, read %s", path, name, fdfl & FD_CLOEXEC,
        fl & ~(O_LARGEFILE), res(n, e));
    if (n >= 0) shape("  content", big, n);
    say("  write: %s", TRY(write(fd, "x", 1)));
    close(fd);
}

static int case_flags(int argc, char **argv) {
    const char *path = argc > 0 ? argv[0] : "/proc/meminfo";
    if (argc > 1 && !strcmp(argv[1], "nobody")) {
        if (setgid(65534) != 0 || setuid(65534) != 0) { perror("setuid"); return 2; }
    }
    struct { const char *name; int flags; } cases[] = {
        {"O_RDONLY", O_RDONLY},
        {"O_CLOEXEC", O_RDONLY | O_CLOEXEC},
        {"O_NONBLOCK", O_RDONLY | O_NONBLOCK},
        {"O_NOFOLLOW", O_RDONLY | O_NOFOLLOW},
        {"O_DIRECT", O_RDONLY | O_DIRECT},
        {"O_NOATIME", O_RDONLY | O_NOATIME},
        {"O_SYNC", O_RDONLY | O_SYNC},
        {"O_ASYNC", O_RDONLY | O_ASYNC},
        {"O_PATH", O_PATH},
        {"O_DIRECTORY", O_RDONLY | O_DIRECTORY},
        {"O_WRONLY", O_WRONLY},
        {"O_RDWR", O_RDWR},
        {"O_CREAT", O_RDONLY | O_CREAT},
        {"O_CREAT|O_EXCL", O_RDONLY | O_CREAT | O_EXCL},
        {"O_TRUNC", O_RDONLY | O_TRUNC},
        {"O_APPEND", O_RDONLY | O_APPEND},
        {"O_TMPFILE", O_RDWR | O_TMPFILE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) try_flags(path, cases[i].name, cases[i].flags);
    return 0;
}

/* A symlink named meminfo (in a directory the test gives) pointing at /proc/meminfo. */
static int case_symlink(int argc, char **argv) {
    if (argc < 1) return 64;
    char link[512];
    snprintf(link, sizeof link, "%s/meminfo", argv[0]);
    unlink(link);
    if (symlink("/proc/meminfo", link) != 0) { perror("symlink"); return 2; }
    try_flags(link, "O_RDONLY|O_NOFOLLOW", O_RDONLY | O_NOFOLLOW);
    try_flags(link, "O_RDONLY", O_RDONLY);
    unlink(link);
    return 0;
}

static int case_modes(int argc, char **argv) {
    const char *path = argc > 0 ? argv[0] : "/proc/meminfo";
    static const char *modes[] = {"r", "rb", "re", "rm", "rx", "rbe", "r,ccs=UTF-8", "r+", "w", "a", "a+"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        errno = 0;
        FILE *f = fopen(path, modes[i]);
        int e = errno;
        if (!f) {
            say("fopen(%s, \"%s\"): %s", path, modes[i], ename(e));
            continue;
        }
        int fd = fileno(f);
        say("fopen(%s, \"%s\"): ok, cloexec %d, flags %o, orientation %d", path, modes[i],
            fcntl(fd, F_GETFD) & FD_CLOEXEC, fcntl(fd, F_GETFL) & ~O_LARGEFILE, fwide(f, 0));
        if (strstr(modes[i], "ccs=")) {
            wchar_t w[256];
            long lines = 0;
            while (fgetws(w, 256, f)) lines++;
            say("  wide lines: %ld", lines);
        } else {
            long n = (long)fread(big, 1, sizeof big, f);
            shape("  content", big, ferror(f) ? -1 : n);
            rewind(f);
            n = (long)fread(big, 1, sizeof big, f);
            shape("  after rewind", big, ferror(f) ? -1 : n);
        }
        fclose(f);
    }
    int fd = open(path, O_RDONLY);
    FILE *f = fdopen(fd, "r");
    long n = f ? (long)fread(big, 1, sizeof big, f) : -1;
    shape("fdopen(open()) content", big, n);
    if (f) fclose(f);
    fd = open(path, O_RDONLY);
    char part[100];
    n = read(fd, part, sizeof part);
    f = fdopen(fd, "r");
    long m = f ? (long)fread(big + n, 1, sizeof big - (size_t)n, f) : -1;
    memcpy(big, part, (size_t)n);
    shape("read 100 bytes, then fdopen and fread the rest", big, n + m);
    if (f) fclose(f);
    return 0;
}

/* ---- 7. duplicates, fork, flags, locks ---------------------------------------------------- */

/* Makes the cgroup's and the host's free memory move: 8 MiB touched and kept. */
static void allocate(void) {
    static char *p;
    p = malloc(8 << 20);
    if (p) memset(p, 1, 8 << 20);
}

static long memfree_now(int fd, int use_pread) {
    long n = use_pread ? pread(fd, big, sizeof big - 1, 0) : read(fd, big, sizeof big - 1);
    big[n > 0 ? n : 0] = 0;
    return meminfo_kb(big, "MemFree");
}

static int case_sharing(int argc, char **argv) {
    const char *path = "/proc/meminfo";
    int use_stream = argc > 0 && !strcmp(argv[0], "stream");
    FILE *s = NULL;
    int fd;
    if (use_stream) {
        s = fopen(path, "r");
        fd = fileno(s);
    } else {
        fd = open(path, O_RDONLY);
    }
    char buf[100];
    long n = read(fd, buf, 100);
    say("read 100: %ld, position %ld", n, (long)lseek(fd, 0, SEEK_CUR));
    int d = dup(fd);
    n = read(d, buf, 100);
    say("read 100 through dup: %ld, position of the original %ld, of the dup %ld", n,
        (long)lseek(fd, 0, SEEK_CUR), (long)lseek(d, 0, SEEK_CUR));
    int d2 = dup2(fd, 40);
    int d3 = fcntl(fd, F_DUPFD, 50);
    int d4 = fcntl(fd, F_DUPFD_CLOEXEC, 60);
    say("dup2 %d, F_DUPFD %d, F_DUPFD_CLOEXEC %d (cloexec %d)", d2, d3, d4, fcntl(d4, F_GETFD) & FD_CLOEXEC);
    n = read(d3, buf, 100);
    say("read 100 through F_DUPFD: %ld, position %ld", n, (long)lseek(fd, 0, SEEK_CUR));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    say("O_NONBLOCK set on the original shows on the dup %d", (fcntl(d, F_GETFL) & O_NONBLOCK) != 0);
    say("flock exclusive: %s", TRY(flock(fd, LOCK_EX | LOCK_NB)));
    int other = open(path, O_RDONLY);
    /* A stream's fd holds a memfd: its locks do not meet another open's (a documented limit). */
    if (!use_stream) say("flock exclusive from another open: %s", TRY(flock(other, LOCK_EX | LOCK_NB)));
    say("flock exclusive through the dup: %s", TRY(flock(d, LOCK_EX | LOCK_NB)));
    close(other);
    /* fork: the child reads 100 bytes; the shared position moves for the parent too. */
    pid_t pid = fork();
    if (pid == 0) {
        _exit(read(fd, buf, 100) == 100 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    say("child read 100: %d, parent's position %ld", WIFEXITED(status) && WEXITSTATUS(status) == 0,
        (long)lseek(fd, 0, SEEK_CUR));
    long rest = read_all(fd, big, sizeof big);
    say("the parent reads the rest: %ld bytes more, position %ld", rest > 0 ? 1L : rest, (long)lseek(fd, 0, SEEK_CUR));
    /* Rewinds through every copy give fresh content. */
    int copies[] = {fd, d, d2, d3, d4};
    const char *names[] = {"original", "dup", "dup2", "F_DUPFD", "F_DUPFD_CLOEXEC"};
    for (int i = 0; i < 5; i++) {
        lseek(copies[i], 0, SEEK_SET);
        long before = memfree_now(copies[i], 0);
        allocate();
        lseek(copies[i], 0, SEEK_SET);
        long after = memfree_now(copies[i], 0);
        say("value rewind through %s fresh=%d MemFree %ld -> %ld", names[i], after != before, before, after);
    }
    long before = memfree_now(fd, 1);
    allocate();
    long after = memfree_now(fd, 1);
    say("value pread at 0 fresh=%d", after != before);
    struct iovec iov = {big, sizeof big - 1};
    before = memfree_now(fd, 1);
    allocate();
    n = preadv(fd, &iov, 1, 0);
    big[n > 0 ? n : 0] = 0;
    say("value preadv at 0 fresh=%d", meminfo_kb(big, "MemFree") != before);
    lseek(fd, 0, SEEK_SET);
    n = readv(fd, &iov, 1);
    shape("readv", big, n);
    if (s) {
        rewind(s);
        before = memfree_now(fd, 1);
        allocate();
        rewind(s);
        n = (long)fread(big, 1, sizeof big - 1, s);
        big[n > 0 ? n : 0] = 0;
        say("value stream rewind fresh=%d", meminfo_kb(big, "MemFree") != before);
        fclose(s);
    } else {
        close(fd);
    }
    return 0;
}

/* Reads in pieces of `size` bytes, with the position after each. */
/* pieces FILE SIZE [read|pread|sendfile]: the file in pieces of SIZE bytes, with read() (the
   position after each), or with pread()/sendfile() at advancing offsets (the position stays). */
static int case_pieces(int argc, char **argv) {
    if (argc < 2) return 64;
    int fd = open(argv[0], O_RDONLY);
    size_t size = strtoul(argv[1], NULL, 0);
    const char *how = argc > 2 ? argv[2] : "read";
    int out = !strcmp(how, "sendfile") ? open("/tmp", O_RDWR | O_TMPFILE, 0600) : -1;
    long total = 0, reads = 0;
    for (;;) {
        ssize_t n;
        if (!strcmp(how, "pread")) {
            n = pread(fd, big + total, size, total);
        } else if (out >= 0) {
            off_t off = total;
            n = sendfile(out, fd, &off, size);
            if (n > 0 && off != total + n) say("offset %ld after sending %ld bytes", (long)off, total + n);
        } else {
            n = read(fd, big + total, size);
        }
        if (n <= 0) break;
        total += n;
        reads++;
        long expect = strcmp(how, "read") ? 0 : total;
        if (lseek(fd, 0, SEEK_CUR) != expect) say("position %ld after %ld bytes", (long)lseek(fd, 0, SEEK_CUR), total);
    }
    if (out >= 0 && pread(out, big, total, 0) != total) say("the sent bytes do not read back");
    shape(argv[0], big, total);
    say("value reads=%ld", reads);
    return 0;
}

/* ---- 8. what a served fd looks like ------------------------------------------------------ */

static int case_metadata(int argc, char **argv) {
    const char *path = argc > 0 ? argv[0] : "/proc/meminfo";
    for (int stream = 0; stream < 2; stream++) {
        FILE *f = NULL;
        int fd = stream ? fileno(f = fopen(path, "r")) : open(path, O_RDONLY);
        const char *how = stream ? "fopen" : "open";
        struct stat a, b;
        stat(path, &a);
        fstat(fd, &b);
        say("%s %s: fstat same file as stat %d, mode %o, size %ld, nlink %ld, blksize %ld, uid %d", how, path,
            a.st_dev == b.st_dev && a.st_ino == b.st_ino, b.st_mode, (long)b.st_size, (long)b.st_nlink,
            (long)b.st_blksize, b.st_uid);
        struct stat c;
        fstatat(fd, "", &c, AT_EMPTY_PATH);
        say("  fstatat(AT_EMPTY_PATH) same %d", c.st_ino == a.st_ino && c.st_dev == a.st_dev);
#ifdef STATX
        struct statx_buf x;
        STATX(fd, "", AT_EMPTY_PATH, 0xfff, &x);
        say("  statx same %d, mode %o", x.ino == a.st_ino, x.mode);
#endif
        struct statfs sf;
        fstatfs(fd, &sf);
        say("  fstatfs magic %lx", (unsigned long)sf.f_type);
        char link[64], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        long n = readlink(link, target, sizeof target);
        say("  readlink %.*s", (int)(n > 0 ? n : 0), target);
        snprintf(link, sizeof link, "/dev/fd/%d", fd);
        n = readlink(link, target, sizeof target);
        say("  readlink /dev/fd %.*s", (int)(n > 0 ? n : 0), target);
        errno = 0;
        say("  F_GET_SEALS: %s", TRY(fcntl(fd, F_GET_SEALS)));
        say("  F_GETFL %o", fcntl(fd, F_GETFL) & ~O_LARGEFILE);
        errno = 0;
        void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
        say("  mmap: %s", m == MAP_FAILED ? ename(errno) : "ok");
        errno = 0;
        say("  SEEK_END: %s", TRY(lseek(fd, 0, SEEK_END)));
        errno = 0;
        say("  SEEK_DATA: %s", TRY(lseek(fd, 0, SEEK_DATA)));
        errno = 0;
        say("  write: %s", TRY(write(fd, "x", 1)));
        if (f) fclose(f); else close(fd);
    }
    /* sendfile into a pipe, whole file. */
    int fd = open(path, O_RDONLY), p[2];
    pipe(p);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    long sent = 0, r;
    errno = 0;
    while ((r = sendfile(p[1], fd, NULL, 1 << 20)) > 0) sent += r;
    say("sendfile: %s", res(r, errno));
    close(p[1]);
    long n = read_all(p[0], big, sizeof big);
    shape("  sent", big, n);
    off_t off = 0;
    lseek(fd, 0, SEEK_SET);
    int p2[2];
    pipe(p2);
    fcntl(p2[1], F_SETPIPE_SZ, 1 << 20);
    const char *how = TRY(sendfile(p2[1], fd, &off, 1 << 20));
    say("sendfile with an offset: %s, offset advanced by the count %d, position %ld", how, off == try_r,
        (long)lseek(fd, 0, SEEK_CUR));
    say("copy_file_range: %s", TRY(copy_file_range(fd, NULL, p2[1], NULL, 100, 0)));
    return 0;
}

/* ---- 9. near the memory limit ------------------------------------------------------------- */

/* A number from the caller's memory cgroup: the v1 file, or on cgroup v2 its counterpart. */
static long cgroup_file(const char *v1_name, const char *v2_name) {
    char line[512], path[768];
    FILE *f = fopen("/proc/self/cgroup", "r");
    path[0] = 0;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c = strstr(line, ":memory:");
        if (c) {
            snprintf(path, sizeof path, "/sys/fs/cgroup/memory%s/%s", c + 8, v1_name);
            break;
        }
        if (!strncmp(line, "0::", 3)) snprintf(path, sizeof path, "/sys/fs/cgroup%s/%s", line + 3, v2_name);
    }
    if (f) fclose(f);
    f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (!strcmp(v2_name, "memory.events")) { /* the count of the "max" line */
            char key[64];
            long n;
            while (fscanf(f, "%63s %ld", key, &n) == 2)
                if (!strcmp(key, "max")) v = n;
        } else if (fscanf(f, "%ld", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

#define LIMIT() cgroup_file("memory.limit_in_bytes", "memory.max")
#define USAGE() cgroup_file("memory.usage_in_bytes", "memory.current")

static int poll_once(int stream) {
    char buf[8192];
    if (stream) {
        FILE *f = fopen("/proc/meminfo", "r");
        int ok = f && fgets(buf, sizeof buf, f);
        if (f) fclose(f);
        return ok;
    }
    int fd = open("/proc/meminfo", O_RDONLY);
    int ok = fd >= 0 && read(fd, buf, sizeof buf) > 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* A poller: it reads /proc/meminfo once at start (open or fopen), grows to `headroom` bytes
 * below its cgroup's limit, then reads it `count` times more, `gap_us` microseconds apart. */
static int case_near_limit(int argc, char **argv) {
    if (argc < 3) return 64;
    long headroom = strtol(argv[0], NULL, 0), count = strtol(argv[1], NULL, 0);
    int stream = !strcmp(argv[2], "fopen");
    long gap_us = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
    say("first poll: %d", poll_once(stream));
    long limit = LIMIT();
    for (;;) {
        long usage = USAGE();
        long gap = limit - usage - headroom;
        if (gap <= 0) break;
        long chunk = gap > (1 << 20) ? (1 << 20) : 4096;
        char *p = mmap(NULL, (size_t)chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) break;
        memset(p, 1, (size_t)chunk);
    }
    long before = USAGE();
    long ok = 0;
    for (long i = 0; i < count; i++) {
        ok += poll_once(stream);
        if (gap_us) usleep((useconds_t)gap_us);
    }
    say("polled %ld times: all read %d", count, ok == count);
    say("value headroom_before=%ld usage_before=%ld usage_after=%ld max_usage=%ld failcnt=%ld", limit - before,
        before, USAGE(), cgroup_file("memory.max_usage_in_bytes", "memory.peak"),
        cgroup_file("memory.failcnt", "memory.events"));
    return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

static const struct { const char *name; int (*fn)(int, char **); } CASES[] = {
    {"stack-usage", case_stack_usage},
    {"small-stack", case_small_stack},
    {"deep-thread", case_deep_thread},
    {"sigaltstack", case_sigaltstack},
    {"bad-pointers", case_bad_pointers},
    {"meminfo-order", case_meminfo_order},
    {"seccomp-allowlist", case_seccomp_allowlist},
    {"seccomp-kill-memfd", case_seccomp_kill_memfd},
    {"rlimit", case_rlimit},
    {"emfile-transient", case_emfile_transient},
    {"flags", case_flags},
    {"symlink", case_symlink},
    {"modes", case_modes},
    {"sharing", case_sharing},
    {"pieces", case_pieces},
    {"metadata", case_metadata},
    {"near-limit", case_near_limit},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: noharm CASE [ARG...]\n");
        return 64;
    }
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (!strcmp(argv[1], CASES[i].name)) return CASES[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "noharm: no case %s\n", argv[1]);
    return 64;
}
