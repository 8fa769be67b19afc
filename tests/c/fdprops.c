/* Properties of the fd handed out for /proc/meminfo.
 *
 *   fdprops ENTRY CLOEXEC      ENTRY: open | fopen ; CLOEXEC: 0 | 1 (O_CLOEXEC / mode "re")
 *
 * Prints key=value lines: write_ret write_errno cloexec isreg first_read second_read
 * accmode, then the bytes of the first read(4096). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: fdprops open|fopen 0|1\n"); return 64; }
    int cloexec = atoi(argv[2]);
    int fd;
    if (!strcmp(argv[1], "open")) {
        fd = open("/proc/meminfo", O_RDONLY | (cloexec ? O_CLOEXEC : 0));
    } else {
        FILE *f = fopen("/proc/meminfo", cloexec ? "re" : "r");
        fd = f ? fileno(f) : -1;
    }
    if (fd < 0) { perror("open /proc/meminfo"); return 2; }
    errno = 0;
    ssize_t w = write(fd, "x", 1);
    int werr = errno;
    int fdflags = fcntl(fd, F_GETFD);
    int flflags = fcntl(fd, F_GETFL);
    int seals = fcntl(fd, F_GET_SEALS);
    struct stat st;
    if (fstat(fd, &st) != 0) { perror("fstat"); return 2; }
    static char buf[4097];
    ssize_t n1 = read(fd, buf, 4096);
    char more[4096];
    ssize_t n2 = read(fd, more, sizeof more);
    printf("seals=%d\nmode=%o\n", seals, (unsigned)(st.st_mode & 07777));
    printf("write_ret=%zd\nwrite_errno=%d\ncloexec=%d\nisreg=%d\naccmode=%d\nfirst_read=%zd\nsecond_read=%zd\n",
           w, werr, (fdflags & FD_CLOEXEC) ? 1 : 0, S_ISREG(st.st_mode) ? 1 : 0, flflags & O_ACCMODE, n1, n2);
    if (n1 > 0) fwrite(buf, 1, (size_t)n1, stdout);
    return 0;
}
