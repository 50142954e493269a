//go:build cgo

// C half of the qsort workload (see qsort_cgo.go). It lives in its own file
// because qsort_cgo.go uses //export, and cgo then allows only declarations
// in that file's preamble. Every timing is taken here, around the qsort call
// or the call loop, with CLOCK_MONOTONIC.

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "_cgo_export.h"

typedef int (*qsortCmpFn)(const void *, const void *);
typedef uint64_t (*qsortIncFn)(uint64_t);

static uint64_t qsortNowNs(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// The plain C comparator (same ordering as goCompare and bench/src/qsort.rs).
static int qsortCCompare(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static uint64_t qsortComparisons;

static int qsortCountingCompare(const void *a, const void *b) {
	qsortComparisons++;
	return qsortCCompare(a, b);
}

// goCompare has the C type int(void*, void*); qsort wants const void*
// parameters: same ABI, so the pointer is cast rather than wrapped (a wrapper
// would add a C frame that gort's comparator does not have).
static qsortCmpFn qsortComparator(int useGo) {
	return useGo ? (qsortCmpFn)goCompare : qsortCCompare;
}

uint64_t qsortCount(uint64_t *a, size_t n) {
	qsortComparisons = 0;
	qsort(a, n, sizeof *a, qsortCountingCompare);
	return qsortComparisons;
}

uint64_t qsortHere(uint64_t *a, size_t n, int useGo) {
	qsortCmpFn cmp = qsortComparator(useGo);
	uint64_t t0 = qsortNowNs();
	qsort(a, n, sizeof *a, cmp);
	return qsortNowNs() - t0;
}

struct qsortJob {
	uint64_t *a;
	size_t n;
	qsortCmpFn cmp;
	uint64_t ns;
};

static void *qsortThreadMain(void *p) {
	struct qsortJob *j = p;
	uint64_t t0 = qsortNowNs();
	qsort(j->a, j->n, sizeof *j->a, j->cmp);
	j->ns = qsortNowNs() - t0;
	return NULL;
}

// Sorts on a new C thread (created and joined here); returns the ns of the
// qsort call alone, 0 if the thread could not be created.
uint64_t qsortOnThread(uint64_t *a, size_t n, int useGo) {
	struct qsortJob j = {a, n, qsortComparator(useGo), 0};
	pthread_t t;
	if (pthread_create(&t, NULL, qsortThreadMain, &j) != 0)
		return 0;
	pthread_join(t, NULL);
	return j.ns;
}

// The plain C function of the per-call comparison; not static, and called
// only through a volatile pointer, so it is really called.
uint64_t qsortPlainInc(uint64_t x) { return x + 1; }

struct qsortLoop {
	uint64_t m;
	uint64_t firstNs, goNs, plainNs, goSum, plainSum;
	int ok;
};

static uint64_t qsortCallLoop(qsortIncFn fn, uint64_t m, uint64_t *ns) {
	qsortIncFn volatile f = fn;
	uint64_t sum = 0;
	uint64_t t0 = qsortNowNs();
	for (uint64_t i = 0; i < m; i++)
		sum += f(i);
	*ns = qsortNowNs() - t0;
	return sum;
}

static void *qsortLoopMain(void *p) {
	struct qsortLoop *l = p;
	qsortIncFn volatile g = (qsortIncFn)goInc;
	uint64_t t0 = qsortNowNs();
	uint64_t first = g(41);
	l->firstNs = qsortNowNs() - t0;
	l->ok = first == 42;
	l->goSum = qsortCallLoop((qsortIncFn)goInc, l->m, &l->goNs);
	l->plainSum = qsortCallLoop(qsortPlainInc, l->m, &l->plainNs);
	return NULL;
}

// A thread created with pthread_create calls goInc once (timed alone: the
// first call from a thread Go has never seen), then m times in a loop, then
// qsortPlainInc m times in the same loop. Returns 0 if the thread could not
// be created or the first call returned a wrong value.
int qsortForeignCalls(uint64_t m, uint64_t *firstNs, uint64_t *goNs, uint64_t *plainNs,
		      uint64_t *goSum, uint64_t *plainSum) {
	struct qsortLoop l = {0};
	l.m = m;
	pthread_t t;
	if (pthread_create(&t, NULL, qsortLoopMain, &l) != 0)
		return 0;
	pthread_join(t, NULL);
	*firstNs = l.firstNs;
	*goNs = l.goNs;
	*plainNs = l.plainNs;
	*goSum = l.goSum;
	*plainSum = l.plainSum;
	return l.ok;
}
