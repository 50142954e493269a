//go:build cgo

// qsort N: glibc qsort of N pseudo-random uint64 with comparators on each
// side of the C/Go boundary; the Go peer of bench/src/qsort.rs (see there for
// the full definition). Needs cgo (CGO_ENABLED=1 and a C compiler); the C
// half is qsort_cgo.c, since a file with //export may only declare C
// functions in its preamble. Without cgo, qsort_nocgo.go stands in (bench/run.py
// builds the other workloads without cgo, into gobench, and this one with it,
// into gobench-cgo).
//
// Variants, each sorting the same xorshift data (regenerated before every
// sort, outside the timing), qsortReps sorts each, median reported:
//
//	plain_thread  C qsort + C comparator on a new C thread (no Go involved)
//	plain_g       C qsort + C comparator, called from the main goroutine
//	cb_g          C qsort + exported Go comparator goCompare, from the main goroutine
//	cb_thread     C qsort + goCompare on a new C thread (pthread_create):
//	              every comparison enters Go from a thread Go did not create
//
// and the per-call cost from a foreign thread: a pthread_create'd thread
// calls the exported goInc (x+1) once (foreign_first_call_us), then M = 10 N
// times in a loop, then a plain C function M times in the same loop, both
// through a volatile function pointer.
//
// Caps (Go only): Go 1.19 gives a C thread an M for each call into Go and
// takes it back on return (needm/dropm, with signal-mask syscalls: ~2 us per
// call here; Go 1.21 keeps the M bound to the thread), so at N = 10^6 the
// cb_thread sorts alone would take minutes. cb_thread therefore sorts the
// first min(N, qsortThreadCapN) elements once (cb_thread_n, cb_thread_sorts;
// its ns_per_cmp uses that sort's own comparison count and
// cb_thread_over_plain_thread compares ns per comparison; cb_thread_ms_per_sort
// is left out when the sort is shorter), and the foreign loop makes
// M = min(10 N, qsortForeignCallsCap) calls (foreign_calls).

package main

/*
// Windows (mingw): pthread_create comes from winpthreads, linked in
// statically so that the .exe needs no DLL beside it under Wine.
#cgo windows LDFLAGS: -Wl,-Bstatic -lpthread -Wl,-Bdynamic
#include <stddef.h>
#include <stdint.h>

uint64_t qsortCount(uint64_t *a, size_t n);
uint64_t qsortHere(uint64_t *a, size_t n, int useGo);
uint64_t qsortOnThread(uint64_t *a, size_t n, int useGo);
int qsortForeignCalls(uint64_t m, uint64_t *firstNs, uint64_t *goNs, uint64_t *plainNs,
		      uint64_t *goSum, uint64_t *plainSum);
*/
import "C"

import (
	"fmt"
	"sort"
	"time"
	"unsafe"
)

const (
	qsortReps = 3
	// Calls per foreign-thread loop: qsortCallsPerN * N, at most qsortForeignCallsCap.
	qsortCallsPerN       = 10
	qsortForeignCallsCap = 1_000_000
	// cb_thread sorts at most this many elements, once (see the caps above).
	qsortThreadCapN = 1 << 16
	// qsortSeed must stay identical to QSORT_SEED in bench/src/qsort.rs.
	qsortSeed = 0x9E3779B97F4A7C15
)

//export goCompare
func goCompare(a, b unsafe.Pointer) C.int {
	x, y := *(*uint64)(a), *(*uint64)(b)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

//export goInc
func goInc(x C.uint64_t) C.uint64_t { return x + 1 }

// qsortFill must stay identical to qsort::fill in bench/src/qsort.rs.
func qsortFill(a []uint64) {
	x := uint64(qsortSeed)
	for i := range a {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		a[i] = x
	}
}

func qsortCheck(a []uint64, variant string) {
	for i := 1; i < len(a); i++ {
		if a[i-1] > a[i] {
			panic(fmt.Sprintf("qsort: %s: not sorted at %d", variant, i))
		}
	}
}

func medianNs(xs []uint64) float64 {
	s := append([]uint64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return float64(s[len(s)/2])
	}
	return (float64(s[len(s)/2-1]) + float64(s[len(s)/2])) / 2
}

func benchQsort(n uint64) *report {
	t0 := time.Now()
	a := make([]uint64, n)
	p := (*C.uint64_t)(unsafe.Pointer(&a[0]))
	cn := C.size_t(n)

	qsortFill(a)
	cmps := uint64(C.qsortCount(p, cn))
	qsortCheck(a, "count")

	variants := []struct {
		name   string
		sort   func() C.uint64_t
		sample []uint64
	}{
		{"plain_thread", func() C.uint64_t { return C.qsortOnThread(p, cn, 0) }, nil},
		{"plain_g", func() C.uint64_t { return C.qsortHere(p, cn, 0) }, nil},
		{"cb_g", func() C.uint64_t { return C.qsortHere(p, cn, 1) }, nil},
	}
	for r := 0; r < qsortReps; r++ {
		for v := range variants {
			qsortFill(a)
			ns := uint64(variants[v].sort())
			if ns == 0 {
				panic("qsort: " + variants[v].name + ": pthread_create failed")
			}
			qsortCheck(a, variants[v].name)
			variants[v].sample = append(variants[v].sample, ns)
		}
	}
	med := map[string]float64{}
	for _, v := range variants {
		med[v.name] = medianNs(v.sample)
	}

	// cb_thread: one sort of the first tn elements (see the caps above).
	tn := n
	if tn > qsortThreadCapN {
		tn = qsortThreadCapN
	}
	ta := a[:tn]
	qsortFill(ta)
	tcmps := cmps
	if tn != n {
		tcmps = uint64(C.qsortCount(p, C.size_t(tn)))
		qsortFill(ta)
	}
	tns := uint64(C.qsortOnThread(p, C.size_t(tn), 1))
	if tns == 0 {
		panic("qsort: cb_thread: pthread_create failed")
	}
	qsortCheck(ta, "cb_thread")

	m := n * qsortCallsPerN
	if m > qsortForeignCallsCap {
		m = qsortForeignCallsCap
	}
	var firstNs, goNs, plainNs, goSum, plainSum C.uint64_t
	if C.qsortForeignCalls(C.uint64_t(m), &firstNs, &goNs, &plainNs, &goSum, &plainSum) == 0 {
		panic("qsort: foreign thread: pthread_create failed or goInc(41) != 42")
	}
	// sum over i < m of (i + 1) = sum over i < m+1 of i, mod 2^64.
	want := expectedSum(m + 1)
	if uint64(goSum) != want || uint64(plainSum) != want {
		panic(fmt.Sprintf("qsort: foreign loop sums %d / %d, expected %d", goSum, plainSum, want))
	}
	wall := time.Since(t0)

	perCmp := func(ns float64) float64 { return ns / float64(cmps) }
	tPerCmp := float64(tns) / float64(tcmps)
	r := newReport("qsort", n, perCmp(med["cb_g"])).
		with("cb_g_over_plain_g", fmt.Sprintf("%.3f", med["cb_g"]/med["plain_g"])).
		with("cb_thread_over_plain_thread", fmt.Sprintf("%.3f", tPerCmp/perCmp(med["plain_thread"]))).
		with("cmps", cmps)
	for _, v := range variants {
		r = r.with(v.name+"_ms_per_sort", fmt.Sprintf("%.3f", med[v.name]/1e6)).
			with(v.name+"_ns_per_cmp", fmt.Sprintf("%.3f", perCmp(med[v.name])))
	}
	if tn == n {
		r = r.with("cb_thread_ms_per_sort", fmt.Sprintf("%.3f", float64(tns)/1e6))
	}
	return r.
		with("cb_thread_ns_per_cmp", fmt.Sprintf("%.3f", tPerCmp)).
		with("cb_thread_n", tn).
		with("cb_thread_sorts", 1).
		with("foreign_calls", m).
		with("foreign_cb_ns_per_call", fmt.Sprintf("%.3f", float64(goNs)/float64(m))).
		with("foreign_plain_ns_per_call", fmt.Sprintf("%.3f", float64(plainNs)/float64(m))).
		with("foreign_first_call_us", fmt.Sprintf("%.2f", float64(firstNs)/1e3)).
		with("sorts", qsortReps).
		with("wall_ms", ms(wall))
}
