/*
 * The dMel kernel: the codes of one 25 ms analysis window, in WebAssembly with 128-bit SIMD
 * (pipeline/dmel.ts defines dMel, holds each stream's window and fills this module's tables
 * once; pipeline/dmel_kernel.wasm is this file built by `deno task build:wasm`).
 *
 * For one window of 400 16-bit samples: the Hann window (with the 1/32768 scale folded in),
 * a 512-point real FFT computed as one 256-point complex FFT of the even and odd samples
 * packed as real and imaginary parts and then split (the "two for one" trick), the power
 * spectrum's 257 bins, 80 triangular mel filters and each energy's level. The complex FFT
 * is a radix-4 Stockham FFT (natural order in and out, no bit reversal: its loads and stores
 * are contiguous, four lanes at a time); its first stage runs over four butterflies at once
 * and transposes their outputs, the later ones over four consecutive points of each.
 * Arithmetic is single precision, in a fixed order: the same window gives the same codes on
 * every machine. Nothing is allocated; the module's memory is its static arrays.
 */
#include <wasm_simd128.h>

#define HALF 256   /* points of the complex FFT: half the real FFT's 512 */
#define WINDOW 400 /* samples in the analysis window */
#define BINS 80    /* mel filters */
#define MAX_WEIGHTS 1024
#define MAX_BINADES 64
#define EXPORT(name) __attribute__((export_name(#name)))
#define ALIGNED __attribute__((aligned(16)))

/* Input and output of dmel_compute. */
static short window_pcm[WINDOW] ALIGNED;
static unsigned char codes[BINS];

/* Tables the host fills once (pipeline/dmel.ts). */
static float hann_even[HALF] ALIGNED, hann_odd[HALF] ALIGNED; /* window / 32768, even and odd points */
static float first_twiddles[6 * 64] ALIGNED; /* stage n = 256: w1r, w1i, w2r, w2i, w3r, w3i, 64 p each */
static float later_twiddles[6 * 21];          /* n = 64, 16, 4: per p, w1r w1i w2r w2i w3r w3i */
static float split_cos[HALF + 4] ALIGNED, split_sin[HALF + 4] ALIGNED; /* e^(-2πik/512) */
static int mel_start[BINS], mel_count[BINS]; /* first FFT bin; weights, a multiple of 4 */
static float mel_weights[MAX_WEIGHTS] ALIGNED; /* each filter's, zero-padded, back to back */
static unsigned char binade_below[MAX_BINADES]; /* level starts under binade e */
static float binade_start[MAX_BINADES];         /* the level start inside binade e, or +inf */
static int binade_low, binade_high;

/* Work space. */
static float are[HALF + 4] ALIGNED, aim[HALF + 4] ALIGNED;
static float bre[HALF] ALIGNED, bim[HALF] ALIGNED;
static float power[HALF + 16] ALIGNED; /* zero past bin 256, where padded weights read */

EXPORT(dmel_window) short *dmel_window(void) { return window_pcm; }
EXPORT(dmel_codes) unsigned char *dmel_codes(void) { return codes; }
EXPORT(dmel_hann_even) float *dmel_hann_even(void) { return hann_even; }
EXPORT(dmel_hann_odd) float *dmel_hann_odd(void) { return hann_odd; }
EXPORT(dmel_first_twiddles) float *dmel_first_twiddles(void) { return first_twiddles; }
EXPORT(dmel_later_twiddles) float *dmel_later_twiddles(void) { return later_twiddles; }
EXPORT(dmel_split_cos) float *dmel_split_cos(void) { return split_cos; }
EXPORT(dmel_split_sin) float *dmel_split_sin(void) { return split_sin; }
EXPORT(dmel_mel_start) int *dmel_mel_start(void) { return mel_start; }
EXPORT(dmel_mel_count) int *dmel_mel_count(void) { return mel_count; }
EXPORT(dmel_mel_weights) float *dmel_mel_weights(void) { return mel_weights; }
EXPORT(dmel_mel_weights_capacity) int dmel_mel_weights_capacity(void) { return MAX_WEIGHTS; }
EXPORT(dmel_binade_below) unsigned char *dmel_binade_below(void) { return binade_below; }
EXPORT(dmel_binade_start) float *dmel_binade_start(void) { return binade_start; }
EXPORT(dmel_set_binades) void dmel_set_binades(int low, int high) {
  binade_low = low;
  binade_high = high;
}

#define LOAD(p) wasm_v128_load(p)
#define STORE(p, v) wasm_v128_store(p, v)
#define ADD wasm_f32x4_add
#define SUB wasm_f32x4_sub
#define MUL wasm_f32x4_mul

/*
 * One radix-4 butterfly of the Stockham FFT, four lanes at a time: from a, b, c, d (the
 * points p, p + m, p + 2m, p + 3m) to y0 = (a + c) + (b + d), y1 = w1 ((a - c) - i(b - d)),
 * y2 = w2 ((a + c) - (b + d)), y3 = w3 ((a - c) + i(b - d)).
 */
#define BUTTERFLY(ar, ai, br, bi, cr, ci, dr, di, w1r, w1i, w2r, w2i, w3r, w3i)                   \
  v128_t apcr = ADD(ar, cr), apci = ADD(ai, ci), amcr = SUB(ar, cr), amci = SUB(ai, ci);          \
  v128_t bpdr = ADD(br, dr), bpdi = ADD(bi, di), bmdr = SUB(br, dr), bmdi = SUB(bi, di);          \
  v128_t t1r = ADD(amcr, bmdi), t1i = SUB(amci, bmdr);                                            \
  v128_t t2r = SUB(apcr, bpdr), t2i = SUB(apci, bpdi);                                            \
  v128_t t3r = SUB(amcr, bmdi), t3i = ADD(amci, bmdr);                                            \
  v128_t y0r = ADD(apcr, bpdr), y0i = ADD(apci, bpdi);                                            \
  v128_t y1r = SUB(MUL(w1r, t1r), MUL(w1i, t1i)), y1i = ADD(MUL(w1r, t1i), MUL(w1i, t1r));        \
  v128_t y2r = SUB(MUL(w2r, t2r), MUL(w2i, t2i)), y2i = ADD(MUL(w2r, t2i), MUL(w2i, t2r));        \
  v128_t y3r = SUB(MUL(w3r, t3r), MUL(w3i, t3i)), y3i = ADD(MUL(w3r, t3i), MUL(w3i, t3r));

/* Stores lanes p..p+3 of the outputs y0..y3 at out[4p + r]: a 4x4 transpose. */
static inline void store_transposed(float *out, v128_t y0, v128_t y1, v128_t y2, v128_t y3) {
  v128_t lo01 = wasm_i32x4_shuffle(y0, y1, 0, 4, 1, 5), hi01 = wasm_i32x4_shuffle(y0, y1, 2, 6, 3, 7);
  v128_t lo23 = wasm_i32x4_shuffle(y2, y3, 0, 4, 1, 5), hi23 = wasm_i32x4_shuffle(y2, y3, 2, 6, 3, 7);
  STORE(out, wasm_i32x4_shuffle(lo01, lo23, 0, 1, 4, 5));
  STORE(out + 4, wasm_i32x4_shuffle(lo01, lo23, 2, 3, 6, 7));
  STORE(out + 8, wasm_i32x4_shuffle(hi01, hi23, 0, 1, 4, 5));
  STORE(out + 12, wasm_i32x4_shuffle(hi01, hi23, 2, 3, 6, 7));
}

/* The first stage (n = 256, stride 1), a into b: four butterflies (p..p+3) at a time. */
static void first_stage(void) {
  const float *tw = first_twiddles;
  for (int p = 0; p < 64; p += 4) {
    BUTTERFLY(LOAD(are + p), LOAD(aim + p), LOAD(are + p + 64), LOAD(aim + p + 64),
              LOAD(are + p + 128), LOAD(aim + p + 128), LOAD(are + p + 192), LOAD(aim + p + 192),
              LOAD(tw + p), LOAD(tw + 64 + p), LOAD(tw + 128 + p), LOAD(tw + 192 + p),
              LOAD(tw + 256 + p), LOAD(tw + 320 + p))
    store_transposed(bre + 4 * p, y0r, y1r, y2r, y3r);
    store_transposed(bim + 4 * p, y0i, y1i, y2i, y3i);
  }
}

/* A later stage of sub-transform length n and stride s (>= 4): four points q..q+3 at a time. */
static inline void later_stage(int n, int s, const float *tw, const float *restrict xr,
                               const float *restrict xi, float *restrict yr, float *restrict yi) {
  int m = n / 4;
  for (int p = 0; p < m; p++, tw += 6) {
    v128_t w1r = wasm_f32x4_splat(tw[0]), w1i = wasm_f32x4_splat(tw[1]);
    v128_t w2r = wasm_f32x4_splat(tw[2]), w2i = wasm_f32x4_splat(tw[3]);
    v128_t w3r = wasm_f32x4_splat(tw[4]), w3i = wasm_f32x4_splat(tw[5]);
    for (int q = 0; q < s; q += 4) {
      int i0 = q + s * p, i1 = i0 + s * m, i2 = i1 + s * m, i3 = i2 + s * m;
      BUTTERFLY(LOAD(xr + i0), LOAD(xi + i0), LOAD(xr + i1), LOAD(xi + i1), LOAD(xr + i2),
                LOAD(xi + i2), LOAD(xr + i3), LOAD(xi + i3), w1r, w1i, w2r, w2i, w3r, w3i)
      int o = q + 4 * s * p;
      STORE(yr + o, y0r);
      STORE(yi + o, y0i);
      STORE(yr + o + s, y1r);
      STORE(yi + o + s, y1i);
      STORE(yr + o + 2 * s, y2r);
      STORE(yi + o + 2 * s, y2i);
      STORE(yr + o + 3 * s, y3r);
      STORE(yi + o + 3 * s, y3i);
    }
  }
}

/*
 * The level of a positive energy from its binary exponent: the host's tables say how many
 * level starts lie under each binade and which one (if any) lies inside it.
 */
EXPORT(dmel_level) int dmel_level(float energy) {
  union {
    float f;
    unsigned u;
  } bits = {energy};
  int exponent = (int)((bits.u >> 23) & 0xff) - 127;
  if (exponent < binade_low) exponent = binade_low;
  if (exponent > binade_high) exponent = binade_high;
  int binade = exponent - binade_low;
  return binade_below[binade] + (energy >= binade_start[binade] ? 1 : 0);
}

/* The codes of `window_pcm` into `codes`. */
EXPORT(dmel_compute) void dmel_compute(void) {
  /* Pack: even samples as real parts, odd as imaginary (each i32 lane holds a pair). */
  for (int m = 0; m < WINDOW / 2; m += 4) {
    v128_t pair = LOAD(window_pcm + 2 * m);
    v128_t even = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(wasm_i32x4_shl(pair, 16), 16));
    v128_t odd = wasm_f32x4_convert_i32x4(wasm_i32x4_shr(pair, 16));
    STORE(are + m, MUL(even, LOAD(hann_even + m)));
    STORE(aim + m, MUL(odd, LOAD(hann_odd + m)));
  }
  for (int m = WINDOW / 2; m < HALF; m += 4) {
    STORE(are + m, wasm_f32x4_const_splat(0));
    STORE(aim + m, wasm_f32x4_const_splat(0));
  }
  first_stage();
  later_stage(64, 4, later_twiddles, bre, bim, are, aim);
  later_stage(16, 16, later_twiddles + 6 * 16, are, aim, bre, bim);
  later_stage(4, 64, later_twiddles + 6 * 20, bre, bim, are, aim);
  /*
   * Split Z (in a) into the real frame's spectrum: with E = (Z[k] + conj Z[256-k]) / 2 and
   * O = (Z[k] - conj Z[256-k]) / 2i, X[k] = E + e^(-2πik/512) O. Bins 1..256 four at a time
   * (the last group's bin 256 is overwritten below), Z[256-k] loaded reversed.
   */
  v128_t half = wasm_f32x4_const_splat(0.5f);
  for (int k = 1; k < HALF; k += 4) {
    v128_t a = LOAD(are + k), b = LOAD(aim + k);
    v128_t c = LOAD(are + HALF - k - 3), d = LOAD(aim + HALF - k - 3);
    c = wasm_i32x4_shuffle(c, c, 3, 2, 1, 0);
    d = wasm_i32x4_shuffle(d, d, 3, 2, 1, 0);
    v128_t er = MUL(ADD(a, c), half), ei = MUL(SUB(b, d), half);
    v128_t or = MUL(ADD(b, d), half), oi = MUL(SUB(c, a), half);
    v128_t cos = LOAD(split_cos + k), sin = LOAD(split_sin + k);
    v128_t xr = SUB(ADD(er, MUL(cos, or)), MUL(sin, oi));
    v128_t xi = ADD(ADD(ei, MUL(cos, oi)), MUL(sin, or));
    STORE(power + k, ADD(MUL(xr, xr), MUL(xi, xi)));
  }
  /* Bins 0 and 256 come from Z[0] alone: the sum and the difference of its parts. */
  power[0] = (are[0] + aim[0]) * (are[0] + aim[0]);
  power[HALF] = (are[0] - aim[0]) * (are[0] - aim[0]);
  const float *weights = mel_weights;
  for (int bin = 0; bin < BINS; bin++) {
    v128_t sum = wasm_f32x4_const_splat(0);
    const float *bins = power + mel_start[bin];
    for (int k = 0, count = mel_count[bin]; k < count; k += 4, weights += 4) {
      sum = ADD(sum, MUL(LOAD(weights), LOAD(bins + k)));
    }
    float energy = (wasm_f32x4_extract_lane(sum, 0) + wasm_f32x4_extract_lane(sum, 2)) +
                   (wasm_f32x4_extract_lane(sum, 1) + wasm_f32x4_extract_lane(sum, 3));
    codes[bin] = (unsigned char)dmel_level(energy + 1e-10f);
  }
}
