//go:build cgo

// With cgo the program links the C library dynamically (and the preload library loads into
// it), yet the Go runtime still makes its own system calls: the supervisor must answer them.
package main

// #include <unistd.h>
// static long page_size(void) { return sysconf(_SC_PAGESIZE); }
import "C"

func init() {
	cgoPageSize = int64(C.page_size())
}
