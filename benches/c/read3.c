// Read-only bandwidth of three streams, the bytes of FAdam's sums pass
// (g, f, θ): 2^24 elements of f32 (argument 4) or f64 (argument 8) each,
// summed in 64 independent lanes (vectorized by the compiler at the
// machine's width), prefetching 1 KiB ahead, OpenMP threads over equal
// parts. Prints the median of 21 passes in ns per element (per parameter)
// and GB/s. Not part of the build: a floor to set fadam-bench's figures
// against (docs/benchmarks.md):
//   gcc -O3 -march=native -fopenmp benches/c/read3.c -o /tmp/read3
//   OMP_NUM_THREADS=1 /tmp/read3 4
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define N (1L << 24)
#define LANES 64 // floats per iteration: one 256-byte slice of each stream
#define AHEAD 1024 // prefetch distance in bytes

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

// The floats [lo, hi) of the three streams, summed lane by lane.
static float part(const float *a, const float *b, const float *c, long lo, long hi) {
  float acc[LANES] = {0};
  for (long i = lo; i < hi; i += LANES) {
    for (int line = 0; line < LANES * 4; line += 64) {
      __builtin_prefetch((const char *)(a + i) + AHEAD + line);
      __builtin_prefetch((const char *)(b + i) + AHEAD + line);
      __builtin_prefetch((const char *)(c + i) + AHEAD + line);
    }
    for (int l = 0; l < LANES; l++) acc[l] += a[i + l] + b[i + l] + c[i + l];
  }
  float sum = 0;
  for (int l = 0; l < LANES; l++) sum += acc[l];
  return sum;
}

static int by_value(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

int main(int argc, char **argv) {
  int width = argc > 1 ? atoi(argv[1]) : 4; // bytes per element
  long floats = N * width / 4; // per stream
  float *a = aligned_alloc(64, floats * 4), *b = aligned_alloc(64, floats * 4),
        *c = aligned_alloc(64, floats * 4);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < floats; i++) a[i] = b[i] = c[i] = 1e-3f * (i & 7);
  double t[21];
  float keep = 0;
  for (int r = 0; r < 21; r++) {
    double t0 = now();
    float sum = 0;
#pragma omp parallel reduction(+ : sum)
    {
      long per = floats / omp_get_num_threads() / LANES * LANES, th = omp_get_thread_num();
      sum += part(a, b, c, th * per, (th + 1) * per);
    }
    keep += sum;
    t[r] = now() - t0;
  }
  qsort(t, 21, sizeof(double), by_value);
  printf("threads=%d bytes=%d read3 %.3f ns/param %.1f GB/s (%g)\n", omp_get_max_threads(), width,
         t[10] / N * 1e9, 3.0 * width * N / t[10] / 1e9, keep);
  return 0;
}
