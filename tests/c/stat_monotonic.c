/* Reads /proc/stat ROUNDS times (open, read, close; then as procps does, one FILE* rewound) and
 * reports every CPU counter that went backwards between two reads of this process:
 *   went_back=<count> reads=<n> lines=<cpu lines per read> [first backwards: line field old new] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define MAXL 64
#define F 10

static unsigned long long last[MAXL][F];
static char names[MAXL][16];
static int nlines, went_back, reads;

static void check(char *text) {
    int line = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        if (strncmp(l, "cpu", 3) != 0 || line >= MAXL) continue;
        char name[16];
        unsigned long long v[F] = {0};
        int n = sscanf(l, "%15s %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
        if (n < 5) continue;
        if (reads > 0 && strcmp(names[line], name) == 0)
            for (int i = 0; i < F; i++)
                if (v[i] < last[line][i]) {
                    if (!went_back) printf("first_backwards=%s:%d:%llu:%llu\n", name, i, last[line][i], v[i]);
                    went_back++;
                }
        strcpy(names[line], name);
        memcpy(last[line], v, sizeof v);
        line++;
    }
    nlines = line;
    reads++;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 300;
    static char buf[1 << 16];
    for (int r = 0; r < rounds; r++) {
        int fd = open("/proc/stat", O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
        if (fd >= 0) close(fd);
        if (n <= 0) return 1;
        buf[n] = 0;
        check(buf);
        usleep(2000);
    }
    FILE *f = fopen("/proc/stat", "r");
    for (int r = 0; f && r < rounds / 3; r++) {
        rewind(f);
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        check(buf);
        usleep(2000);
    }
    printf("went_back=%d\nreads=%d\nlines=%d\n", went_back, reads, nlines);
    return 0;
}
