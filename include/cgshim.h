/*
 * cgshim.h: ask libcgshim.so for the memory and CPUs this process may use.
 *
 * The functions live in libcgshim.so itself, the library that a container image preloads. They
 * work the same whether the library is preloaded (LD_PRELOAD, /etc/ld.so.preload), linked
 * (`pkg-config --cflags --libs cgshim`) or loaded with dlopen("libcgshim.so", RTLD_NOW), and
 * they give the very numbers the library serves in /proc/meminfo, sysinfo(2), sysconf and
 * sched_getaffinity at the same moment: the same rules, the same caches.
 *
 *     struct cgshim_memory m = { .size = sizeof m };
 *     if (cgshim_memory(&m) == 0)
 *         printf("may use %llu of %llu bytes (bound by %s)\n", (unsigned long long)m.available,
 *                (unsigned long long)m.total, cgshim_source_name(m.limit_source));
 *
 * Every function may be called from any thread and from a signal handler (async-signal-safe):
 * no locks, no allocation, and the work runs on a stack of the library's own, so it needs only
 * a few hundred bytes of the caller's.
 *
 * Versioning. Each struct starts with `size`, which the caller sets to sizeof the struct it was
 * compiled with. The library fills every field that lies entirely within that size and no byte
 * beyond it, then sets `size` to the bytes it filled and `version` to its own version of the
 * struct. New versions only append fields, so:
 *   - a program built against an older, smaller struct gets exactly the fields it knows;
 *   - a program built against a newer header, run with an older library, gets `size` back
 *     smaller than it passed: the fields beyond it were not touched (zero-initialise the struct,
 *     or test a field with CGSHIM_FILLED(&m, field)).
 * Field numbers and the codes below never change meaning.
 *
 * Errors: -1 with errno EINVAL when the pointer is NULL or `size` is smaller than the first two
 * fields (8 bytes); EPERM after the program installed a seccomp filter (the library then makes
 * no system call of its own); ENOMEM when no private stack can be mapped (an RLIMIT_AS below
 * about 9 MiB of headroom). The pointer must be valid, as for any C function.
 *
 * All byte counts are in bytes. CGSHIM_UNLIMITED stands for "no limit".
 */
#ifndef CGSHIM_H
#define CGSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CGSHIM_UNLIMITED UINT64_MAX

/* Bytes of the path fields: a cgroup directory of up to 1024 bytes and its NUL. */
#define CGSHIM_PATH_SIZE 1032

/* Whether the library filled `field` of the struct at `s` (after a successful call). */
#define CGSHIM_FILLED(s, field) \
    (offsetof(__typeof__(*(s)), field) + sizeof((s)->field) <= (s)->size)

/* Why the host's values are given: the codes `cgshim show` prints (cgshim_reason_name). */
enum cgshim_reason {
    CGSHIM_REASON_NONE = 0,                /* "none": the values are the container's */
    CGSHIM_REASON_DISABLED = 1,            /* "disabled": CGSHIM_DISABLE switches it off */
    CGSHIM_REASON_NO_SELF_CGROUP = 2,      /* "no-self-cgroup": /proc/self/cgroup unreadable */
    CGSHIM_REASON_NOT_IN_HIERARCHY = 3,    /* "not-in-hierarchy": no hierarchy with the controller */
    CGSHIM_REASON_NO_MOUNTINFO = 4,        /* "no-mountinfo": /proc/self/mountinfo unreadable */
    CGSHIM_REASON_NO_MOUNT = 5,            /* "no-mount": no visible cgroupfs has the controller */
    CGSHIM_REASON_NO_DIRECTORY = 6,        /* "no-directory": the cgroup's directory not found */
    CGSHIM_REASON_UNLIMITED = 7,           /* "unlimited": no limit below the host's memory */
    CGSHIM_REASON_UNREADABLE = 8,          /* "unreadable": a limit, usage or quota file */
    CGSHIM_REASON_NO_HOST_MEMORY = 9,      /* "no-host-memory": the host's /proc/meminfo */
    CGSHIM_REASON_HOST_FILE_TOO_LARGE = 10, /* "host-file-too-large": its /proc/meminfo > 8 KiB */
    CGSHIM_REASON_NO_AFFINITY = 11         /* "no-affinity": the affinity mask unreadable */
};

/* Where a value came from (cgshim_source_name gives the name in quotes). */
enum cgshim_source {
    CGSHIM_SOURCE_NONE = 0,                    /* "none" */
    CGSHIM_SOURCE_HOST = 1,                    /* "host": the machine's own memory */
    CGSHIM_SOURCE_MEMORY_MAX = 2,              /* "memory.max" (v2) */
    CGSHIM_SOURCE_MEMORY_LIMIT_IN_BYTES = 3,   /* "memory.limit_in_bytes" (v1) */
    CGSHIM_SOURCE_HIERARCHICAL_MEMORY_LIMIT = 4, /* "hierarchical_memory_limit" (v1 memory.stat:
                                                  an ancestor outside the container's view) */
    CGSHIM_SOURCE_MEMORY_HIGH = 5,             /* "memory.high" (v2) */
    CGSHIM_SOURCE_RLIMIT_AS = 6,               /* "RLIMIT_AS" */
    CGSHIM_SOURCE_RLIMIT_DATA = 7,             /* "RLIMIT_DATA" */
    CGSHIM_SOURCE_CPU_MAX = 8,                 /* "cpu.max" (v2) */
    CGSHIM_SOURCE_CPU_CFS_QUOTA_US = 9,        /* "cpu.cfs_quota_us" (v1) */
    CGSHIM_SOURCE_AFFINITY = 10                /* "affinity": the thread's affinity mask */
};

#define CGSHIM_MEMORY_VERSION 1

/* The memory this process may use: the numbers of the /proc/meminfo the library serves, where
 * they come from, and the process's own rlimits. */
struct cgshim_memory {
    uint32_t size;          /* in: sizeof the caller's struct; out: the bytes filled */
    uint32_t version;       /* out: the library's CGSHIM_MEMORY_VERSION */
    int32_t virtualized;    /* 1: the container's values; 0: the host's, for `reason` */
    int32_t reason;         /* enum cgshim_reason: why the host's values (0 when virtualized) */
    uint64_t total;         /* MemTotal as served: the effective limit, or the host's memory */
    uint64_t free;          /* MemFree as served: the smallest headroom, min(limit, high) -
                               usage, over the limited levels; the host's MemFree */
    uint64_t available;     /* MemAvailable as served: free plus reclaimable page cache (and
                               reclaimable slab on v2), at most total and the host's */
    uint64_t limit;         /* the effective limit: the smallest limit over the cgroup and its
                               visible ancestors (v1: and hierarchical_memory_limit); a limit at
                               or above the host's memory is none: CGSHIM_UNLIMITED */
    int32_t limit_source;   /* enum cgshim_source: the file that set `limit`, or HOST */
    int32_t limit_level;    /* 0: the own cgroup, n: n levels up; -1: not a visible level */
    uint64_t usage;         /* the own cgroup's memory.current (v2) / memory.usage_in_bytes
                               (v1), page cache included; host: total - free */
    uint64_t high;          /* the smallest memory.high over the visible levels (v2), where the
                               kernel starts reclaiming hard; CGSHIM_UNLIMITED when none or v1 */
    uint64_t swap_limit;    /* SwapTotal as served: the container's swap allowance (v2 the
                               smallest memory.swap.max, v1 memsw limit - memory limit), at most
                               the host's swap; 0 without swap */
    uint64_t swap_usage;    /* swap in use: swap_limit - SwapFree as served */
    uint64_t host_total;    /* the host's MemTotal */
    uint64_t host_available; /* the host's MemAvailable */
    uint64_t rlimit_as;     /* the soft RLIMIT_AS; CGSHIM_UNLIMITED for RLIM_INFINITY */
    uint64_t rlimit_data;   /* the soft RLIMIT_DATA; CGSHIM_UNLIMITED for RLIM_INFINITY */
    uint64_t vm_size;       /* the address space in use, what RLIMIT_AS counts (statm size) */
    uint64_t vm_data;       /* data and stack in use (statm data): what RLIMIT_DATA counts, plus
                               the stack */
    int32_t binding;        /* enum cgshim_source: the bound this process meets first as it
                               grows: the cgroup's file, HOST, RLIMIT_AS or RLIMIT_DATA */
    int32_t cgroup_version; /* 1 or 2; 0 when no memory cgroup was found */
    uint64_t room;          /* what the process may still take before `binding` stops it:
                               min(available, rlimit_as - vm_size, rlimit_data - vm_data) */
    char cgroup_path[CGSHIM_PATH_SIZE]; /* the memory cgroup's directory as this process sees
                               it (e.g. /sys/fs/cgroup), NUL-terminated; "" when none */
};

#define CGSHIM_CPUS_VERSION 1

/* Bits of the CPU set: CPUs 0 to 1023. */
#define CGSHIM_CPU_WORDS 16

/* Whether CPU `cpu` is in the set of the struct at `c`. */
#define CGSHIM_CPU_ISSET(cpu, c) \
    ((size_t)(cpu) < 64 * CGSHIM_CPU_WORDS && (((c)->set[(size_t)(cpu) / 64] >> ((size_t)(cpu) % 64)) & 1))

/* The CPUs this process may keep busy: N, the quota, and the set S the library shows in
 * sched_getaffinity, /proc/cpuinfo, /proc/stat and /sys/devices/system/cpu/online. */
struct cgshim_cpus {
    uint32_t size;          /* in: sizeof the caller's struct; out: the bytes filled */
    uint32_t version;       /* out: the library's CGSHIM_CPUS_VERSION */
    int32_t virtualized;    /* 1: the container's view; 0: the kernel's, for `reason` */
    int32_t reason;         /* enum cgshim_reason (0 when virtualized) */
    uint64_t count;         /* N: ceil(the tightest quota), within [1, affinity_count]; without
                               a quota the affinity count. Not virtualized: the affinity count */
    uint64_t quota_millis;  /* the tightest quota in thousandths of a CPU (1500 = 1.5 CPUs);
                               CGSHIM_UNLIMITED without a quota */
    uint64_t quota_us;      /* that quota: quota_us of CPU time per period_us; */
    uint64_t period_us;     /* CGSHIM_UNLIMITED and 0 without a quota */
    int32_t count_source;   /* enum cgshim_source: CPU_MAX, CPU_CFS_QUOTA_US or AFFINITY */
    int32_t cgroup_version; /* the cpu controller's: 1 or 2; 0 when none was found */
    uint64_t affinity_count; /* CPUs in the calling thread's real affinity mask */
    uint64_t set[CGSHIM_CPU_WORDS]; /* S: CPU n is bit n % 64 of set[n / 64] (CGSHIM_CPU_ISSET) */
    char cgroup_path[CGSHIM_PATH_SIZE]; /* the cpu cgroup's directory, NUL-terminated; "" */
};

/* Fills *m (up to m->size bytes). 0, or -1 and errno. */
int cgshim_memory(struct cgshim_memory *m);

/* Fills *c (up to c->size bytes) for the calling thread. 0, or -1 and errno. */
int cgshim_cpus(struct cgshim_cpus *c);

/* The name of an enum cgshim_source value ("memory.max", "RLIMIT_AS", ...); "unknown" for a
 * number this library does not know. A static string. */
const char *cgshim_source_name(int source);

/* The name of an enum cgshim_reason value ("unlimited", "no-mount", ...), as `cgshim show`
 * prints it; "unknown" for a number this library does not know. A static string. */
const char *cgshim_reason_name(int reason);

/* The library's version, e.g. "0.1.0". A static string. */
const char *cgshim_version(void);

#ifdef __cplusplus
}
#endif

#endif /* CGSHIM_H */
