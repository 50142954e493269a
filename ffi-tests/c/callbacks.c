/* The C side of gort::ffi's acceptance tests: C code that calls the function
 * pointers a gort::ffi::Callback hands out, so that the real C compiler sets up
 * the arguments and reads the results, and C threads (pthread_create) call in.
 *
 * Built with -fno-optimize-sibling-calls: every call below is a real `call`. */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

/* ---- argument passing: integers, doubles, mixed, the 16-argument maximum ---- */

typedef int64_t (*int12_fn)(int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t,
                            uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t);

int64_t call_int12(int12_fn f, int8_t a1, int16_t a2, int32_t a3, int64_t a4, uint8_t a5,
                   uint16_t a6, uint32_t a7, uint64_t a8, int8_t a9, int16_t a10,
                   int32_t a11, int64_t a12) {
    return f(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12);
}

/* The same with the values written in C (the C compiler materialises the narrow
 * negative values itself). Must match INT12_C_VALUES in tests/abi_matrix.rs. */
int64_t call_int12_c_values(int12_fn f) {
    return f((int8_t)-7, (int16_t)-1234, (int32_t)-123456789, (int64_t)-1234567890123LL,
             (uint8_t)200, (uint16_t)60000, (uint32_t)4000000000u, UINT64_C(0xF0E1D2C3B4A59687),
             (int8_t)INT8_MIN, (int16_t)INT16_MAX, (int32_t)INT32_MIN, (int64_t)INT64_MAX);
}

typedef double (*f64x10_fn)(double, double, double, double, double, double, double, double,
                            double, double);

double call_f64x10(f64x10_fn f, double a1, double a2, double a3, double a4, double a5,
                   double a6, double a7, double a8, double a9, double a10) {
    return f(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10);
}

/* Must match F64X10_C_VALUES in tests/abi_matrix.rs. */
double call_f64x10_c_values(f64x10_fn f) {
    return f(1.5, -2.25, 3.125, -4.0625, 1e300, -1e-300, 0.1, -0.0, 123456.789, -98765.4321);
}

typedef double (*mixed8_fn)(int8_t, uint16_t, int32_t, float, const uint8_t *, bool, uint64_t,
                            double);

double call_mixed8(mixed8_fn f, int8_t a, uint16_t b, int32_t c, float d, const uint8_t *e,
                   bool g, uint64_t h, double i) {
    return f(a, b, c, d, e, g, h, i);
}

/* 16 arguments: 7 integer class (1 on the stack), 9 SSE class (1 on the stack). */
typedef double (*mixed16_fn)(float, int8_t, double, uint16_t, float, int32_t, double, int64_t,
                             float, uint8_t, double, const uint8_t *, float, uint64_t, double,
                             float);

double call_mixed16(mixed16_fn f, float a, int8_t b, double c, uint16_t d, float e, int32_t g,
                    double h, int64_t i, float j, uint8_t k, double l, const uint8_t *m,
                    float n, uint64_t o, double p, float q) {
    return f(a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q);
}

typedef uint64_t (*u64x16_fn)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                              uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                              uint64_t, uint64_t, uint64_t, uint64_t);

/* Calls f(base + 0, base + 1, ..., base + 15). */
uint64_t call_u64x16(u64x16_fn f, uint64_t base) {
    return f(base + 0, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7,
             base + 8, base + 9, base + 10, base + 11, base + 12, base + 13, base + 14,
             base + 15);
}

/* ---- every supported type as argument (identity) and as result (arity 0) ---- */

typedef int32_t (*i32_fn)(int32_t);

#define ID_AND_RET(name, T)                                   \
    T call_id_##name(T (*f)(T), T x) {                        \
        T r = f(x);                                           \
        return r;                                             \
    }                                                         \
    T call_ret_##name(T (*f)(void)) {                         \
        T r = f();                                            \
        return r;                                             \
    }

ID_AND_RET(i8, int8_t)
ID_AND_RET(i16, int16_t)
ID_AND_RET(i32, int32_t)
ID_AND_RET(i64, int64_t)
ID_AND_RET(u8, uint8_t)
ID_AND_RET(u16, uint16_t)
ID_AND_RET(u32, uint32_t)
ID_AND_RET(u64, uint64_t)
ID_AND_RET(isize, intptr_t)
ID_AND_RET(usize, uintptr_t)
ID_AND_RET(bool, bool)
ID_AND_RET(f32, float)
ID_AND_RET(f64, double)
ID_AND_RET(ptr, void *)
ID_AND_RET(fnptr, i32_fn)

/* The result widened by the C compiler (the callee defines only the low bits). */
int64_t call_ret_i8_widened(int8_t (*f)(void)) { return (int64_t)f(); }
int64_t call_ret_i16_widened(int16_t (*f)(void)) { return (int64_t)f(); }
uint64_t call_ret_u8_widened(uint8_t (*f)(void)) { return (uint64_t)f(); }
uint64_t call_ret_u16_widened(uint16_t (*f)(void)) { return (uint64_t)f(); }
int32_t call_ret_bool_as_int(bool (*f)(void)) { return f() ? 1 : 0; }

/* f(g, x): the callback receives a (nullable) function pointer to call. */
int32_t call_apply(int32_t (*f)(i32_fn, int32_t), i32_fn g, int32_t x) { return f(g, x); }

void call_void0(void (*f)(void)) { f(); }
void call_void_i32(void (*f)(int32_t), int32_t x) { f(x); }
int32_t call_binop_i32(int32_t (*f)(int32_t, int32_t), int32_t a, int32_t b) { return f(a, b); }

/* ---- threads created by C ---- */

typedef int32_t (*thread_call_fn)(int32_t thread, int32_t i);

struct nt_arg {
    thread_call_fn fn;
    int32_t thread;
    int32_t ncalls;
    int64_t sum;
};

static void *nt_main(void *p) {
    struct nt_arg *a = p;
    for (int32_t i = 0; i < a->ncalls; i++) a->sum += a->fn(a->thread, i);
    return NULL;
}

/* nthreads threads, each calling fn(thread, i) for i in 0..ncalls; joins them
 * all; stores the sum of every result in *sum_out. Returns 0 or an errno. */
int call_n_times_in_pthreads(int32_t nthreads, int32_t ncalls, thread_call_fn fn,
                             int64_t *sum_out) {
    if (nthreads <= 0) return EINVAL;
    struct nt_arg *args = calloc((size_t)nthreads, sizeof *args);
    pthread_t *ts = calloc((size_t)nthreads, sizeof *ts);
    if (!args || !ts) {
        free(args);
        free(ts);
        return ENOMEM;
    }
    int err = 0;
    int32_t started = 0;
    for (; started < nthreads; started++) {
        args[started] = (struct nt_arg){fn, started, ncalls, 0};
        err = pthread_create(&ts[started], NULL, nt_main, &args[started]);
        if (err) break;
    }
    int64_t sum = 0;
    for (int32_t t = 0; t < started; t++) {
        int e = pthread_join(ts[t], NULL);
        if (e && !err) err = e;
        sum += args[t].sum;
    }
    *sum_out = sum;
    free(args);
    free(ts);
    return err;
}

struct short_arg {
    void (*fn)(int32_t);
    int32_t i;
};

static void *short_main(void *p) {
    struct short_arg *a = p;
    a->fn(a->i);
    return NULL;
}

/* `total` short-lived threads, `at_once` of them alive at a time: each calls
 * fn(i) once and exits; each batch is joined before the next starts. Returns 0
 * or an errno. */
int spawn_short_threads(int32_t total, int32_t at_once, void (*fn)(int32_t)) {
    if (at_once <= 0 || at_once > 64) return EINVAL;
    pthread_t ts[64];
    struct short_arg args[64];
    for (int32_t done = 0; done < total;) {
        int32_t n = total - done < at_once ? total - done : at_once;
        int32_t started = 0;
        int err = 0;
        for (; started < n; started++) {
            args[started] = (struct short_arg){fn, done + started};
            err = pthread_create(&ts[started], NULL, short_main, &args[started]);
            if (err) break;
        }
        for (int32_t t = 0; t < started; t++) pthread_join(ts[t], NULL);
        if (err) return err;
        done += n;
    }
    return 0;
}

struct run_arg {
    void (*fn)(void *);
    void *arg;
};

static void *run_main(void *p) {
    struct run_arg *ra = p;
    ra->fn(ra->arg);
    return NULL;
}

/* Runs fn(arg) on a new thread and joins it. Returns 0 or an errno. */
int run_on_pthread(void (*fn)(void *), void *arg) {
    struct run_arg ra = {fn, arg};
    pthread_t t;
    int err = pthread_create(&t, NULL, run_main, &ra);
    if (err) return err;
    return pthread_join(t, NULL);
}

/* ---- nesting: C -> callback -> C -> callback ... ---- */

/* Calls cb(depth) and returns its result + 1; a C local kept across the call
 * checks that the callback left this frame intact (-1000000 if not). */
int32_t nest(int32_t depth, int32_t (*cb)(int32_t)) {
    volatile int32_t guard = depth * 7919 + 13;
    int32_t r = cb(depth);
    if (guard != depth * 7919 + 13) return -1000000;
    return r + 1;
}

/* ---- thread-owned state across a callback ---- */

/* A comparator called through C: a comparator that calls this calls a
 * second callback nested in the first. */
int call_cmp(int (*f)(const void *, const void *), const void *a, const void *b) {
    return f(a, b);
}

/* One recursive mutex per slot, as a C library keeps one per connection. */
#define LOCKED_SLOTS 64
static pthread_mutex_t locked_mu[LOCKED_SLOTS];
static pthread_once_t locked_once = PTHREAD_ONCE_INIT;

static void locked_init(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    for (int i = 0; i < LOCKED_SLOTS; i++) pthread_mutex_init(&locked_mu[i], &a);
    pthread_mutexattr_destroy(&a);
}

/* Calls f(arg) holding slot's recursive mutex, owned by the calling thread
 * (as SQLite holds its connection mutex across a collation callback), and
 * returns f's result. -1 if the callback returned on another thread, -2 if
 * the mutex could then not be unlocked (this thread does not own it). */
int64_t locked_call(int32_t slot, int64_t (*f)(int64_t), int64_t arg) {
    pthread_once(&locked_once, locked_init);
    pthread_mutex_t *mu = &locked_mu[slot % LOCKED_SLOTS];
    pthread_mutex_lock(mu);
    pid_t before = gettid();
    int64_t r = f(arg);
    pid_t after = gettid();
    if (pthread_mutex_unlock(mu) != 0) return -2;
    return before == after ? r : -1;
}
