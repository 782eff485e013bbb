// Read-only bandwidth of one thread over K streams of 2^24 floats each
// (argument K, 1 to 8), summed in 64 lanes with no software prefetching:
// what the hardware prefetchers alone give as the number of streams
// grows. HUGE=1 asks the kernel for 2 MiB pages (madvise MADV_HUGEPAGE,
// which takes effect where transparent huge pages are `madvise` or
// `always`). Prints the best of 9 passes. Not part of the build: a floor
// to set fadam-bench's figures against (docs/benchmarks.md):
//   gcc -O3 -march=native benches/c/streams.c -o /tmp/streams
//   for k in 1 2 3 4 6 8; do /tmp/streams $k; HUGE=1 /tmp/streams $k; done
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define N (1L << 24)
#define LANES 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int k = argc > 1 ? atoi(argv[1]) : 1, huge = getenv("HUGE") != NULL;
  if (k < 1 || k > 8) return 2;
  float *s[8];
  for (int j = 0; j < k; j++) {
    s[j] = aligned_alloc(1 << 21, N * 4); // 2 MiB aligned, so that huge pages can back it
    if (huge) madvise(s[j], N * 4, MADV_HUGEPAGE);
    for (long i = 0; i < N; i++) s[j][i] = 1e-3f * (i & 7);
  }
  double best = 1e9;
  float keep = 0;
  for (int r = 0; r < 9; r++) {
    double t0 = now();
    float acc[LANES] = {0};
    for (long i = 0; i < N; i += LANES)
      for (int j = 0; j < k; j++)
        for (int l = 0; l < LANES; l++) acc[l] += s[j][i + l];
    for (int l = 0; l < LANES; l++) keep += acc[l];
    double t = now() - t0;
    if (t < best) best = t;
  }
  printf("streams=%d huge=%d %.1f GB/s (%g)\n", k, huge, (double)k * N * 4 / best / 1e9, keep);
  return 0;
}
