/* The C side of gort::ffi's Windows tests: C code (mingw gcc) that calls the
 * function pointers a gort::ffi::Callback hands out, so that a real Win64 C
 * compiler sets up the arguments (positional: RCX/XMM0, RDX/XMM1, R8/XMM2,
 * R9/XMM3, the rest above the 32-byte home space) and reads the results, and
 * threads made with CreateThread call in.
 *
 * Built with -fno-optimize-sibling-calls: every call below is a real `call`. */

#include <stdbool.h>
#include <stdint.h>
#include <windows.h>

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
