/* The C side of gort::ffi's Windows tests: C code (mingw gcc) that calls the
 * function pointers a gort::ffi::Callback hands out, so that a real Win64 C
 * compiler sets up the arguments (positional: RCX/XMM0, RDX/XMM1, R8/XMM2,
 * R9/XMM3, the rest above the 32-byte home space) and reads the results, and
 * threads made with CreateThread call in.
 *
 * The functions without a `w_` prefix have the names and signatures of their
 * c/callbacks.c counterparts, so that the tests written against those run on
 * both platforms unchanged; "pthreads" in a name means "threads C created",
 * here with CreateThread, and the error codes are GetLastError()'s.
 *
 * Built with -fno-optimize-sibling-calls: every call below is a real `call`. */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <windows.h>
/* After windows.h, which it needs. */
#include <tlhelp32.h>

/* ---- argument passing ---- */

typedef double (*mixed8_fn)(int32_t, double, int8_t, float, uint64_t, double, const uint8_t *,
                            bool);

double w_call_mixed8(mixed8_fn f, int32_t a, double b, int8_t c, float d, uint64_t e, double g,
                     const uint8_t *h, bool i) {
    return f(a, b, c, d, e, g, h, i);
}

/* Must match MIXED8_C_VALUES in tests/win64.rs. */
double w_call_mixed8_c_values(mixed8_fn f) {
    return f((int32_t)-123456789, 2.5, (int8_t)-7, 0.75f, UINT64_C(0xF0E1D2C3B4A59687), -1e300,
             (const uint8_t *)(uintptr_t)0x12345671, true);
}

/* Three arguments: the slot record goes in R9, whatever their classes. */
int64_t w_call_f64_i32_f32(int64_t (*f)(double, int32_t, float), double a, int32_t b, float c) {
    return f(a, b, c);
}
double w_call_f64x3(double (*f)(double, double, double), double a, double b, double c) {
    return f(a, b, c);
}
float w_call_f32_u8(float (*f)(float, uint8_t), float a, uint8_t b) { return f(a, b); }

/* Four floats: the frame path, XMM0-3 only. */
double w_call_f64x4(double (*f)(double, double, double, double), double a, double b, double c,
                    double d) {
    return f(a, b, c, d);
}

/* 16 arguments, mixed: 4 in registers, 12 on the stack. */
typedef double (*mixed16_fn)(float, int8_t, double, uint16_t, float, int32_t, double, int64_t,
                             float, uint8_t, double, const uint8_t *, float, uint64_t, double,
                             float);

double w_call_mixed16(mixed16_fn f, float a, int8_t b, double c, uint16_t d, float e, int32_t g,
                      double h, int64_t i, float j, uint8_t k, double l, const uint8_t *m,
                      float n, uint64_t o, double p, float q) {
    return f(a, b, c, d, e, g, h, i, j, k, l, m, n, o, p, q);
}

/* ---- every type as the argument and result of a 1-argument callback (the
 * register path) and as the fifth argument and result of a 5-argument one
 * (the frame path, the value on the stack): f(x), and f(1.5, -2, 3.25f,
 * 4, x). ---- */

#define IDS(name, T)                                                         \
    T w_id1_##name(T (*f)(T), T x) {                                         \
        T r = f(x);                                                          \
        return r;                                                            \
    }                                                                        \
    T w_id5_##name(T (*f)(double, int32_t, float, int64_t, T), T x) {        \
        T r = f(1.5, -2, 3.25f, 4, x);                                       \
        return r;                                                            \
    }

IDS(i8, int8_t)
IDS(i16, int16_t)
IDS(i32, int32_t)
IDS(i64, int64_t)
IDS(u8, uint8_t)
IDS(u16, uint16_t)
IDS(u32, uint32_t)
IDS(u64, uint64_t)
IDS(bool, bool)
IDS(f32, float)
IDS(f64, double)
IDS(ptr, void *)

/* The result widened by the C compiler (the callee defines only the low bits). */
int64_t w_ret_i8_widened(int8_t (*f)(void)) { return (int64_t)f(); }
uint64_t w_ret_u16_widened(uint16_t (*f)(void)) { return (uint64_t)f(); }
int32_t w_ret_bool_as_int(bool (*f)(void)) { return f() ? 1 : 0; }

/* ---- the caller's own frame across a callback ---- */

/* Calls f with six arguments (the frame path) and with two (the register
 * path), with guard values in locals of this frame, above its outgoing
 * argument area; returns the sum of the results, or -1000000 if a guard
 * changed. */
int64_t w_guarded_calls(int64_t (*f6)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t),
                        int64_t (*f2)(int64_t, int64_t)) {
    volatile int64_t guard[8];
    for (int i = 0; i < 8; i++) guard[i] = 0x6A7B8C9D00000000LL + i;
    int64_t r = f6(1, 2, 3, 4, 5, 6);
    r += f2(7, 8);
    for (int i = 0; i < 8; i++)
        if (guard[i] != 0x6A7B8C9D00000000LL + i) return -1000000;
    return r;
}

/* ---- threads created with CreateThread ---- */

struct run_arg {
    void (*fn)(void *);
    void *arg;
};

static DWORD WINAPI run_main(LPVOID p) {
    struct run_arg *ra = p;
    ra->fn(ra->arg);
    return 0;
}

/* Runs fn(arg) on a new thread (CreateThread) and waits for it. Returns 0 or
 * GetLastError(). */
uint32_t w_run_on_thread(void (*fn)(void *), void *arg) {
    struct run_arg ra = {fn, arg};
    HANDLE t = CreateThread(NULL, 0, run_main, &ra, 0, NULL);
    if (t == NULL) return (uint32_t)GetLastError();
    DWORD w = WaitForSingleObject(t, INFINITE);
    CloseHandle(t);
    return w == WAIT_OBJECT_0 ? 0 : (uint32_t)GetLastError();
}

/* ---- the c/callbacks.c functions the portable tests use ---- */

int32_t call_id_i32(int32_t (*f)(int32_t), int32_t x) {
    int32_t r = f(x);
    return r;
}
uint64_t call_id_u64(uint64_t (*f)(uint64_t), uint64_t x) {
    uint64_t r = f(x);
    return r;
}

typedef int32_t (*thread_call_fn)(int32_t thread, int32_t i);

struct nt_arg {
    thread_call_fn fn;
    int32_t thread;
    int32_t ncalls;
    int64_t sum;
};

static DWORD WINAPI nt_main(LPVOID p) {
    struct nt_arg *a = p;
    for (int32_t i = 0; i < a->ncalls; i++) a->sum += a->fn(a->thread, i);
    return 0;
}

/* nthreads threads (CreateThread), each calling fn(thread, i) for i in
 * 0..ncalls; waits for them all; stores the sum of every result in *sum_out.
 * Returns 0 or a Win32 error code. */
int call_n_times_in_pthreads(int32_t nthreads, int32_t ncalls, thread_call_fn fn,
                             int64_t *sum_out) {
    if (nthreads <= 0) return ERROR_INVALID_PARAMETER;
    struct nt_arg *args = calloc((size_t)nthreads, sizeof *args);
    HANDLE *ts = calloc((size_t)nthreads, sizeof *ts);
    if (!args || !ts) {
        free(args);
        free(ts);
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    int err = 0;
    int32_t started = 0;
    for (; started < nthreads; started++) {
        args[started] = (struct nt_arg){fn, started, ncalls, 0};
        ts[started] = CreateThread(NULL, 0, nt_main, &args[started], 0, NULL);
        if (ts[started] == NULL) {
            err = (int)GetLastError();
            break;
        }
    }
    int64_t sum = 0;
    for (int32_t t = 0; t < started; t++) {
        if (WaitForSingleObject(ts[t], INFINITE) != WAIT_OBJECT_0 && !err)
            err = (int)GetLastError();
        CloseHandle(ts[t]);
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

static DWORD WINAPI short_main(LPVOID p) {
    struct short_arg *a = p;
    a->fn(a->i);
    return 0;
}

/* `total` short-lived threads (CreateThread), `at_once` (<= 64) of them alive
 * at a time: each calls fn(i) once and exits; each batch is waited for (and
 * its handles closed, so that the threads are gone, not just exited) before
 * the next starts. Returns 0 or a Win32 error code. */
int spawn_short_threads(int32_t total, int32_t at_once, void (*fn)(int32_t)) {
    if (at_once <= 0 || at_once > 64) return ERROR_INVALID_PARAMETER;
    HANDLE ts[64];
    struct short_arg args[64];
    for (int32_t done = 0; done < total;) {
        int32_t n = total - done < at_once ? total - done : at_once;
        int32_t started = 0;
        int err = 0;
        for (; started < n; started++) {
            args[started] = (struct short_arg){fn, done + started};
            ts[started] = CreateThread(NULL, 0, short_main, &args[started], 0, NULL);
            if (ts[started] == NULL) {
                err = (int)GetLastError();
                break;
            }
        }
        for (int32_t t = 0; t < started; t++) {
            if (WaitForSingleObject(ts[t], INFINITE) != WAIT_OBJECT_0 && !err)
                err = (int)GetLastError();
            CloseHandle(ts[t]);
        }
        if (err) return err;
        done += n;
    }
    return 0;
}

/* Calls cb(depth) and returns its result + 1; a C local kept across the call
 * checks that the callback left this frame intact (-1000000 if not). */
int32_t nest(int32_t depth, int32_t (*cb)(int32_t)) {
    volatile int32_t guard = depth * 7919 + 13;
    int32_t r = cb(depth);
    if (guard != depth * 7919 + 13) return -1000000;
    return r + 1;
}

/* A comparator called through C: a comparator that calls this calls a
 * second callback nested in the first. */
int call_cmp(int (*f)(const void *, const void *), const void *a, const void *b) {
    return f(a, b);
}

/* One mutex per slot, as a C library keeps one per connection: a kernel mutex
 * (CreateMutex), recursive and owned by the thread that took it, and
 * ReleaseMutex fails (ERROR_NOT_OWNER) on any other thread, as
 * pthread_mutex_unlock of a recursive mutex does (a CRITICAL_SECTION would
 * not notice). */
#define LOCKED_SLOTS 64
static HANDLE locked_mu[LOCKED_SLOTS];
static INIT_ONCE locked_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK locked_init(PINIT_ONCE once, PVOID param, PVOID *ctx) {
    (void)once;
    (void)param;
    (void)ctx;
    for (int i = 0; i < LOCKED_SLOTS; i++) {
        locked_mu[i] = CreateMutexW(NULL, FALSE, NULL);
        if (locked_mu[i] == NULL) return FALSE;
    }
    return TRUE;
}

/* Calls f(arg) holding slot's mutex, owned by the calling thread (as SQLite
 * holds its connection mutex across a collation callback), and returns f's
 * result. -1 if the callback returned on another thread, -2 if the mutex
 * could then not be released (this thread does not own it), -3 if it could
 * not be made or taken (WAIT_ABANDONED included: a thread exited holding it). */
int64_t locked_call(int32_t slot, int64_t (*f)(int64_t), int64_t arg) {
    if (!InitOnceExecuteOnce(&locked_once, locked_init, NULL, NULL)) return -3;
    HANDLE mu = locked_mu[slot % LOCKED_SLOTS];
    if (WaitForSingleObject(mu, INFINITE) != WAIT_OBJECT_0) return -3;
    DWORD before = GetCurrentThreadId();
    int64_t r = f(arg);
    DWORD after = GetCurrentThreadId();
    if (!ReleaseMutex(mu)) return -2;
    return before == after ? r : -1;
}

/* ---- facts about the process's threads ---- */

/* The process's thread count: its threads in a Toolhelp snapshot (Wine builds
 * it from the wineserver's thread list). -1 if the snapshot failed. */
int32_t w_thread_count(void) {
    HANDLE s = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
    if (s == INVALID_HANDLE_VALUE) return -1;
    DWORD pid = GetCurrentProcessId();
    THREADENTRY32 te;
    te.dwSize = sizeof te;
    int32_t n = 0;
    if (!Thread32First(s, &te)) {
        CloseHandle(s);
        return -1;
    }
    do {
        if (te.th32OwnerProcessID == pid) n++;
        te.dwSize = sizeof te;
    } while (Thread32Next(s, &te));
    bool complete = GetLastError() == ERROR_NO_MORE_FILES;
    CloseHandle(s);
    return complete ? n : -1;
}

/* Windows has no call naming a process's main thread; the C runtime runs its
 * constructors on that thread before main, so one records its id (before
 * Rust's main, and so before gort, could run anything). */
static DWORD main_thread_id;

__attribute__((constructor)) static void record_main_thread(void) {
    main_thread_id = GetCurrentThreadId();
}

/* The id of the thread that ran the C runtime's start-up, or 0 if the
 * constructor above did not run. */
uint32_t w_main_thread_id(void) { return main_thread_id; }
