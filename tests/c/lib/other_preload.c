/* libother.so: a library an image already preloads through LD_PRELOAD (tests/runtime.rs). It
 * does nothing; the probe only looks for it in /proc/self/maps. */
int cgshim_test_other_preload = 1;
