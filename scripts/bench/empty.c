/* Baseline for the process-start benchmark: a shared library with no code of its own.
 * Preloading it measures what the dynamic loader charges for any small C library
 * (open, mmap, relocate), which is the bar libcgshim.so is held to (design invariant 9). */
int cgshim_bench_empty_placeholder;
