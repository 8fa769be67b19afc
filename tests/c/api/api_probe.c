/* The C API of libcgshim.so (cgshim.h), asked the way a new program asks it: linked with
 * `pkg-config --cflags --libs cgshim`, or (built with -DCGSHIM_DLOPEN) through
 * dlopen("libcgshim.so") and dlsym. Prints key=value lines for tests/api.rs.
 *
 *   api_probe memory   every field of struct cgshim_memory, and the served /proc/meminfo read
 *                      just before and just after (meminfo_*), repeated until the two agree
 *   api_probe cpus     every field of struct cgshim_cpus, sched_getaffinity and sysconf
 *   api_probe small    an older, smaller struct: only its fields filled, the bytes after it kept
 *   api_probe abi      the sizes the library fills for a large buffer against the header's
 *   api_probe errors   NULL and a size below the header: EINVAL
 *   api_probe threads  8 threads and a signal handler asking at once: the same answers
 *   api_probe names    every source and reason name
 */
#define _GNU_SOURCE
#include <cgshim.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#ifdef CGSHIM_DLOPEN
#include <dlfcn.h>
static int (*api_memory)(struct cgshim_memory *);
static int (*api_cpus)(struct cgshim_cpus *);
static const char *(*api_source_name)(int);
static const char *(*api_reason_name)(int);
static const char *(*api_version)(void);

static void *must(void *lib, const char *name) {
    void *p = dlsym(lib, name);
    if (!p) {
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
        exit(2);
    }
    return p;
}

static void bind_api(void) {
    void *lib = dlopen("libcgshim.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        exit(2);
    }
    api_memory = (int (*)(struct cgshim_memory *))must(lib, "cgshim_memory");
    api_cpus = (int (*)(struct cgshim_cpus *))must(lib, "cgshim_cpus");
    api_source_name = (const char *(*)(int))must(lib, "cgshim_source_name");
    api_reason_name = (const char *(*)(int))must(lib, "cgshim_reason_name");
    api_version = (const char *(*)(void))must(lib, "cgshim_version");
    printf("how=dlopen\n");
}
#else
#define api_memory cgshim_memory
#define api_cpus cgshim_cpus
#define api_source_name cgshim_source_name
#define api_reason_name cgshim_reason_name
#define api_version cgshim_version
static void bind_api(void) { printf("how=linked\n"); }
#endif

typedef unsigned long long ull;

static int meminfo(ull *total, ull *free_, ull *avail, ull *swap_total, ull *swap_free) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    *total = *free_ = *avail = *swap_total = *swap_free = ~0ULL;
    while (fgets(line, sizeof line, f)) {
        ull v;
        if (sscanf(line, "MemTotal: %llu", &v) == 1) *total = v;
        else if (sscanf(line, "MemFree: %llu", &v) == 1) *free_ = v;
        else if (sscanf(line, "MemAvailable: %llu", &v) == 1) *avail = v;
        else if (sscanf(line, "SwapTotal: %llu", &v) == 1) *swap_total = v;
        else if (sscanf(line, "SwapFree: %llu", &v) == 1) *swap_free = v;
    }
    fclose(f);
    return 0;
}

static int memory(void) {
    struct cgshim_memory m;
    ull a[5], b[5];
    int tries = 0;
    for (;;) {
        memset(&m, 0, sizeof m);
        m.size = sizeof m;
        if (meminfo(&a[0], &a[1], &a[2], &a[3], &a[4]) != 0)
            return 1;
        if (api_memory(&m) != 0) {
            printf("error=%d\n", errno);
            return 1;
        }
        if (meminfo(&b[0], &b[1], &b[2], &b[3], &b[4]) != 0)
            return 1;
        tries++;
        if (memcmp(a, b, sizeof a) == 0 && m.free / 1024 == a[1] && m.available / 1024 == a[2])
            break;
        if (tries == 200)
            break;
        usleep(2000);
    }
    printf("tries=%d\n", tries);
    /* How many copies of the library this process holds (one, whatever the ways it came in):
     * the distinct paths of libcgshim.so mappings. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512], seen[8][512];
    int copies = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        char *path = strchr(line, '/');
        if (!path || !strstr(path, "libcgshim.so"))
            continue;
        int known = 0;
        for (int i = 0; i < copies; i++)
            known |= strcmp(seen[i], path) == 0;
        if (!known && copies < 8)
            snprintf(seen[copies++], sizeof seen[0], "%s", path);
    }
    if (maps)
        fclose(maps);
    printf("copies=%d\n", copies);
    printf("meminfo_MemTotal=%llu\nmeminfo_MemFree=%llu\nmeminfo_MemAvailable=%llu\n", b[0], b[1], b[2]);
    printf("meminfo_SwapTotal=%llu\nmeminfo_SwapFree=%llu\n", b[3], b[4]);
    printf("size=%u\nversion=%u\nvirtualized=%d\nreason=%d\nreason_name=%s\n", m.size, m.version,
           m.virtualized, m.reason, api_reason_name(m.reason));
    printf("total=%llu\nfree=%llu\navailable=%llu\nlimit=%llu\n", (ull)m.total, (ull)m.free,
           (ull)m.available, (ull)m.limit);
    printf("limit_source=%s\nlimit_level=%d\nusage=%llu\nhigh=%llu\n", api_source_name(m.limit_source),
           m.limit_level, (ull)m.usage, (ull)m.high);
    printf("swap_limit=%llu\nswap_usage=%llu\nhost_total=%llu\nhost_available=%llu\n", (ull)m.swap_limit,
           (ull)m.swap_usage, (ull)m.host_total, (ull)m.host_available);
    printf("rlimit_as=%llu\nrlimit_data=%llu\nvm_size=%llu\nvm_data=%llu\n", (ull)m.rlimit_as,
           (ull)m.rlimit_data, (ull)m.vm_size, (ull)m.vm_data);
    printf("binding=%s\ncgroup_version=%d\nroom=%llu\ncgroup_path=%s\n", api_source_name(m.binding),
           m.cgroup_version, (ull)m.room, m.cgroup_path);
    return 0;
}

static void print_set(const char *key, const struct cgshim_cpus *c) {
    printf("%s=", key);
    const char *sep = "";
    for (int cpu = 0; cpu < 64 * CGSHIM_CPU_WORDS; cpu++)
        if (CGSHIM_CPU_ISSET(cpu, c)) {
            printf("%s%d", sep, cpu);
            sep = ",";
        }
    printf("\n");
}

static int cpus(void) {
    struct cgshim_cpus c = {.size = sizeof c};
    if (api_cpus(&c) != 0) {
        printf("error=%d\n", errno);
        return 1;
    }
    printf("size=%u\nversion=%u\nvirtualized=%d\nreason=%d\nreason_name=%s\n", c.size, c.version,
           c.virtualized, c.reason, api_reason_name(c.reason));
    printf("count=%llu\nquota_millis=%llu\nquota_us=%llu\nperiod_us=%llu\n", (ull)c.count,
           (ull)c.quota_millis, (ull)c.quota_us, (ull)c.period_us);
    printf("count_source=%s\ncgroup_version=%d\naffinity_count=%llu\ncgroup_path=%s\n",
           api_source_name(c.count_source), c.cgroup_version, (ull)c.affinity_count, c.cgroup_path);
    print_set("set", &c);
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
        printf("sched_getaffinity=");
        const char *sep = "";
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &mask)) {
                printf("%s%d", sep, cpu);
                sep = ",";
            }
        printf("\n");
    }
    printf("nprocessors_onln=%ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
}

/* The first version's first fields only, as a program built against an older header has it,
 * followed by bytes that belong to the program. */
struct older_memory {
    uint32_t size;
    uint32_t version;
    int32_t virtualized;
    int32_t reason;
    uint64_t total;
    uint64_t free;
    uint64_t available;
    unsigned char after[64];
};

struct older_cpus {
    uint32_t size;
    uint32_t version;
    int32_t virtualized;
    int32_t reason;
    uint64_t count;
    unsigned char after[64];
};

static int untouched(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0xA5)
            return 0;
    return 1;
}

static int small(void) {
    struct older_memory m;
    memset(&m, 0xA5, sizeof m);
    m.size = offsetof(struct older_memory, after);
    int r = api_memory((struct cgshim_memory *)&m);
    printf("memory_result=%d\nmemory_size=%u\nmemory_version=%u\nmemory_total=%llu\n", r, m.size,
           m.version, (ull)m.total);
    printf("memory_available=%llu\nmemory_after_untouched=%d\n", (ull)m.available,
           untouched(m.after, sizeof m.after));
    /* A size that ends inside a field: only the whole fields before it are filled. */
    memset(&m, 0xA5, sizeof m);
    m.size = offsetof(struct older_memory, available) + 4;
    r = api_memory((struct cgshim_memory *)&m);
    printf("partial_result=%d\npartial_size=%u\npartial_available_untouched=%d\n", r, m.size,
           untouched((const unsigned char *)&m.available, sizeof m.available + sizeof m.after));
    struct older_cpus c;
    memset(&c, 0xA5, sizeof c);
    c.size = offsetof(struct older_cpus, after);
    r = api_cpus((struct cgshim_cpus *)&c);
    printf("cpus_result=%d\ncpus_size=%u\ncpus_count=%llu\ncpus_after_untouched=%d\n", r, c.size,
           (ull)c.count, untouched(c.after, sizeof c.after));
    return 0;
}

static int abi(void) {
    static unsigned char big[8192];
    struct cgshim_memory *m = (struct cgshim_memory *)big;
    memset(big, 0, sizeof big);
    m->size = sizeof big;
    int r = api_memory(m);
    printf("memory_result=%d\nmemory_filled=%u\nmemory_header=%zu\nmemory_version=%u\n", r, m->size,
           sizeof(struct cgshim_memory), m->version);
    struct cgshim_cpus *c = (struct cgshim_cpus *)big;
    memset(big, 0, sizeof big);
    c->size = sizeof big;
    r = api_cpus(c);
    printf("cpus_result=%d\ncpus_filled=%u\ncpus_header=%zu\ncpus_version=%u\n", r, c->size,
           sizeof(struct cgshim_cpus), c->version);
    printf("header_memory_version=%d\nheader_cpus_version=%d\n", CGSHIM_MEMORY_VERSION,
           CGSHIM_CPUS_VERSION);
    struct cgshim_memory full = {.size = sizeof full};
    api_memory(&full);
    printf("filled_room=%d\nfilled_path=%d\n", (int)CGSHIM_FILLED(&full, room),
           (int)CGSHIM_FILLED(&full, cgroup_path));
    printf("version_string=%s\n", api_version());
    return 0;
}

static int errors(void) {
    errno = 0;
    int r = api_memory(NULL);
    printf("null_result=%d\nnull_errno=%d\n", r, errno);
    struct cgshim_memory m;
    memset(&m, 0, sizeof m);
    m.size = 4;
    errno = 0;
    r = api_memory(&m);
    printf("tiny_result=%d\ntiny_errno=%d\n", r, errno);
    errno = 0;
    r = api_cpus(NULL);
    printf("cpus_null_result=%d\ncpus_null_errno=%d\n", r, errno);
    return 0;
}

static volatile sig_atomic_t handler_calls, handler_bad;
static struct cgshim_memory reference;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    struct cgshim_memory m = {.size = sizeof m};
    if (api_memory(&m) != 0 || m.total != reference.total || m.limit != reference.limit ||
        strcmp(m.cgroup_path, reference.cgroup_path) != 0)
        handler_bad++;
    handler_calls++;
    errno = saved;
}

static void *worker(void *arg) {
    long bad = 0;
    for (int i = 0; i < 2000; i++) {
        struct cgshim_memory m = {.size = sizeof m};
        struct cgshim_cpus c = {.size = sizeof c};
        if (api_memory(&m) != 0 || m.total != reference.total || m.limit != reference.limit ||
            m.virtualized != reference.virtualized)
            bad++;
        if (api_cpus(&c) != 0 || c.count < 1)
            bad++;
    }
    *(long *)arg = bad;
    return NULL;
}

static int threads(void) {
    reference.size = sizeof reference;
    if (api_memory(&reference) != 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_REAL, &it, NULL);
    pthread_t t[8];
    long bad[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, worker, &bad[i]);
    long total_bad = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total_bad += bad[i];
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("thread_calls=%d\nthread_bad=%ld\nhandler_calls=%d\nhandler_bad=%d\n", 8 * 2000, total_bad,
           (int)handler_calls, (int)handler_bad);
    return 0;
}

static int names(void) {
    for (int i = -1; i <= 12; i++)
        printf("source_%d=%s\n", i, api_source_name(i));
    for (int i = -1; i <= 12; i++)
        printf("reason_%d=%s\n", i, api_reason_name(i));
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    bind_api();
    const char *what = argc > 1 ? argv[1] : "memory";
    if (!strcmp(what, "memory")) return memory();
    if (!strcmp(what, "cpus")) return cpus();
    if (!strcmp(what, "small")) return small();
    if (!strcmp(what, "abi")) return abi();
    if (!strcmp(what, "errors")) return errors();
    if (!strcmp(what, "threads")) return threads();
    if (!strcmp(what, "names")) return names();
    fprintf(stderr, "usage: api_probe memory|cpus|small|abi|errors|threads|names\n");
    return 2;
}
