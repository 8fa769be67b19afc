/* Opens a file (default /proc/meminfo) through exactly one libc entry point and copies
 * what it reads to stdout.
 *
 *   meminfo_open ENTRY [PATH] [-C DIR] [-d DIR]
 *
 * ENTRY: open open64 openat openat64 __open_2 __open64_2 __openat_2 __openat64_2
 *        fopen fopen64 freopen freopen64
 * -C DIR  chdir(DIR) before opening (relative PATH is then resolved against DIR)
 * -d DIR  for the openat family: dirfd = DIR opened O_DIRECTORY (default AT_FDCWD)
 * Exit status 2 (with a message on stderr) when the open or a read fails. */
#define _GNU_SOURCE
#define _LARGEFILE64_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* glibc's fortified entry points; declared here so the program calls them directly. */
int __open_2(const char *path, int oflag);
int __open64_2(const char *path, int oflag);
int __openat_2(int dirfd, const char *path, int oflag);
int __openat64_2(int dirfd, const char *path, int oflag);

static void die(const char *what, const char *arg) {
    fprintf(stderr, "meminfo_open: %s %s: %s\n", what, arg, strerror(errno));
    exit(2);
}

static void copy_fd(int fd) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) die("read", "fd");
        if (n == 0) break;
        fwrite(buf, 1, (size_t)n, stdout);
    }
}

static void copy_file(FILE *f) {
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, stdout);
    if (ferror(f)) die("fread", "FILE");
}

int main(int argc, char **argv) {
    const char *entry = NULL, *path = "/proc/meminfo", *cwd = NULL, *dirname = NULL;
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-C") && i + 1 < argc) cwd = argv[++i];
        else if (!strcmp(argv[i], "-d") && i + 1 < argc) dirname = argv[++i];
        else if (positional == 0) { entry = argv[i]; positional++; }
        else if (positional == 1) { path = argv[i]; positional++; }
        else { fprintf(stderr, "meminfo_open: unexpected argument %s\n", argv[i]); return 64; }
    }
    if (!entry) { fprintf(stderr, "usage: meminfo_open ENTRY [PATH] [-C DIR] [-d DIR]\n"); return 64; }
    if (cwd && chdir(cwd) != 0) die("chdir", cwd);
    int dirfd = AT_FDCWD;
    if (dirname) {
        dirfd = open(dirname, O_RDONLY | O_DIRECTORY);
        if (dirfd < 0) die("open dir", dirname);
    }

    int fd = -1;
    FILE *f = NULL;
    if (!strcmp(entry, "open")) fd = open(path, O_RDONLY);
    else if (!strcmp(entry, "open64")) fd = open64(path, O_RDONLY);
    else if (!strcmp(entry, "openat")) fd = openat(dirfd, path, O_RDONLY);
    else if (!strcmp(entry, "openat64")) fd = openat64(dirfd, path, O_RDONLY);
    else if (!strcmp(entry, "__open_2")) fd = __open_2(path, O_RDONLY);
    else if (!strcmp(entry, "__open64_2")) fd = __open64_2(path, O_RDONLY);
    else if (!strcmp(entry, "__openat_2")) fd = __openat_2(dirfd, path, O_RDONLY);
    else if (!strcmp(entry, "__openat64_2")) fd = __openat64_2(dirfd, path, O_RDONLY);
    else if (!strcmp(entry, "fopen")) f = fopen(path, "r");
    else if (!strcmp(entry, "fopen64")) f = fopen64(path, "r");
    else if (!strcmp(entry, "freopen")) {
        FILE *base = fopen("/dev/null", "r");
        if (!base) die("fopen", "/dev/null");
        f = freopen(path, "r", base);
    } else if (!strcmp(entry, "freopen64")) {
        FILE *base = fopen64("/dev/null", "r");
        if (!base) die("fopen64", "/dev/null");
        f = freopen64(path, "r", base);
    } else { fprintf(stderr, "meminfo_open: unknown entry point %s\n", entry); return 64; }

    if (entry[0] == 'f') {
        if (!f) die(entry, path);
        copy_file(f);
        fclose(f);
    } else {
        if (fd < 0) die(entry, path);
        copy_fd(fd);
        close(fd);
    }
    return fflush(stdout) == 0 ? 0 : 3;
}
