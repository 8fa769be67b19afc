// What a Go program sees of the machine, for tests/supervise.rs. Go makes its system calls
// itself, without the C library, so only the supervisor of `cgshim exec` can answer them.
//
//	probe info
//	    key=value lines: numcpu (runtime.NumCPU), gomaxprocs, meminfo_memtotal_kb (os.ReadFile
//	    of /proc/meminfo), stat_cpus (cpuN lines of /proc/stat), sysinfo_totalram (bytes),
//	    cgo (whether this build links the C library: cgo.go).
//	probe stress GOROUTINES ITERATIONS FILE
//	    every goroutine opens, reads and closes /proc/meminfo and FILE ITERATIONS times each
//	    with raw system calls (syscall.Open/Read/Close, which do not retry on EINTR), every
//	    tenth time through os.ReadFile, and calls sysinfo; meanwhile busy goroutines make the
//	    runtime preempt with SIGURG and one more goroutine sends SIGURG to the process. Prints
//	    reads, errors (failed calls, by errno: eintr, enosys, other), mismatches (a MemTotal
//	    unlike the first, FILE's bytes unlike the first read, a sysinfo total unlike the first)
//	    and memtotal_kb.
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The page size as the C library says it; 0 in a build without cgo.
var cgoPageSize int64

func memTotalKB(b []byte) uint64 {
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "MemTotal:") {
			fields := strings.Fields(line[len("MemTotal:"):])
			if len(fields) == 2 && fields[1] == "kB" {
				v, err := strconv.ParseUint(fields[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return 0
}

func sysinfoTotal() (uint64, error) {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0, err
	}
	return uint64(si.Totalram) * uint64(si.Unit), nil
}

func info() int {
	fmt.Printf("numcpu=%d\n", runtime.NumCPU())
	fmt.Printf("gomaxprocs=%d\n", runtime.GOMAXPROCS(0))
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	fmt.Printf("meminfo_memtotal_kb=%d\n", memTotalKB(meminfo))
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		return 2
	}
	cpus := 0
	for _, line := range strings.Split(string(stat), "\n") {
		if len(line) > 3 && strings.HasPrefix(line, "cpu") && line[3] >= '0' && line[3] <= '9' {
			cpus++
		}
	}
	fmt.Printf("stat_cpus=%d\n", cpus)
	total, err := sysinfoTotal()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe: sysinfo:", err)
		return 2
	}
	fmt.Printf("sysinfo_totalram=%d\n", total)
	fmt.Printf("cgo=%t\n", cgoPageSize > 0)
	return 0
}

// rawRead opens, reads and closes path with system calls that report EINTR instead of
// retrying it.
func rawRead(path string, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	n := 0
	for {
		if n == len(buf) {
			return nil, syscall.EFBIG
		}
		m, err := syscall.Read(fd, buf[n:])
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
}

type counters struct {
	reads, eintr, enosys, other, mismatches atomic.Int64
}

func (c *counters) fail(err error) {
	switch err {
	case syscall.EINTR:
		c.eintr.Add(1)
	case syscall.ENOSYS:
		c.enosys.Add(1)
	default:
		if c.other.Add(1) <= 5 {
			fmt.Fprintln(os.Stderr, "probe:", err)
		}
	}
}

func stress(goroutines, iterations int, file string) int {
	var c counters
	var firstMem, firstTotal atomic.Uint64
	var firstFile atomic.Value
	done := make(chan struct{})
	var busy sync.WaitGroup
	// Goroutines that never block, so the runtime preempts the workers with SIGURG.
	for i := 0; i < 2; i++ {
		busy.Add(1)
		go func() {
			defer busy.Done()
			x := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				for j := 0; j < 1_000_000; j++ {
					x += j
				}
			}
		}()
	}
	busy.Add(1)
	go func() {
		defer busy.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
				syscall.Kill(os.Getpid(), syscall.SIGURG)
			}
		}
	}()
	same := func(first *atomic.Uint64, v uint64) bool {
		first.CompareAndSwap(0, v)
		return v != 0 && first.Load() == v
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := 0; i < iterations; i++ {
				var mem []byte
				var err error
				if i%10 == 0 {
					mem, err = os.ReadFile("/proc/meminfo")
				} else {
					mem, err = rawRead("/proc/meminfo", buf)
				}
				if err != nil {
					c.fail(err)
				} else {
					c.reads.Add(1)
					if !same(&firstMem, memTotalKB(mem)) {
						c.mismatches.Add(1)
					}
				}
				data, err := rawRead(file, buf)
				if err != nil {
					c.fail(err)
				} else {
					c.reads.Add(1)
					firstFile.CompareAndSwap(nil, string(data))
					if !bytes.Equal(data, []byte(firstFile.Load().(string))) {
						c.mismatches.Add(1)
					}
				}
				if i%100 == 0 {
					total, err := sysinfoTotal()
					if err != nil {
						c.fail(err)
					} else if !same(&firstTotal, total) {
						c.mismatches.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	busy.Wait()
	fmt.Printf("reads=%d\neintr=%d\nenosys=%d\nother_errors=%d\nmismatches=%d\nmemtotal_kb=%d\n",
		c.reads.Load(), c.eintr.Load(), c.enosys.Load(), c.other.Load(), c.mismatches.Load(), firstMem.Load())
	return 0
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 1 && args[0] == "info":
		os.Exit(info())
	case len(args) == 4 && args[0] == "stress":
		g, err1 := strconv.Atoi(args[1])
		n, err2 := strconv.Atoi(args[2])
		if err1 == nil && err2 == nil {
			os.Exit(stress(g, n, args[3]))
		}
	}
	fmt.Fprintln(os.Stderr, "usage: probe info | probe stress GOROUTINES ITERATIONS FILE")
	os.Exit(64)
}
