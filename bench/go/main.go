// Command gobench is the Go peer of gort-bench: the same five workloads as
// bench/src/{spawn,yielding,timers,parked,preempt}.rs, printing the same
// one-line `name=<w> n=<N> ns_per_op=<x> key=value ...` format. It uses only
// the standard library and the default GOMAXPROCS (= cores), except preempt,
// which runs with GOMAXPROCS(1).
//
//	go build -o gobench && ./gobench <spawn|yield|timers|parked|preempt> [N]
//
// Every workload runs in the main goroutine (Go's main is itself a goroutine,
// as the workload is in gort::run / a tokio worker task / a may coroutine).
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// report is one output line: ordered key=value pairs. threads, if non-zero,
// is the GOMAXPROCS the workload ran with when it is not the default
// (preempt); main appends it, else GOMAXPROCS(0) asked after the run.
type report struct {
	fields  []string
	threads int
}

func newReport(name string, n uint64, nsPerOp float64) *report {
	r := &report{}
	return r.with("name", name).with("n", n).with("ns_per_op", fmt.Sprintf("%.2f", nsPerOp))
}

func (r *report) with(key string, value interface{}) *report {
	r.fields = append(r.fields, fmt.Sprintf("%s=%v", key, value))
	return r
}

func (r *report) line() string { return strings.Join(r.fields, " ") }

func nsPerOp(wall time.Duration, n uint64) float64 {
	if n == 0 {
		n = 1
	}
	return float64(wall.Nanoseconds()) / float64(n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()*1e3) }

// procStatusKB returns a kB field (VmRSS, VmHWM, ...) of /proc/self/status.
func procStatusKB(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l[len(field)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseUint(f[0], 10, 64)
				return v
			}
		}
	}
	return 0
}

func rssBytes() uint64 { return procStatusKB("VmRSS") * 1024 }

// ---------------------------------------------------------------------------
// spawn N: N goroutines each do counter.Add(1); wait with sync.WaitGroup.
// ns_per_op = wall / N; peak_rss_kb = VmHWM at the end.

func benchSpawn(n uint64) *report {
	var counter uint64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func() {
			atomic.AddUint64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	if c := atomic.LoadUint64(&counter); c != n {
		panic(fmt.Sprintf("spawn: counter %d != N %d", c, n))
	}
	return newReport("spawn", n, nsPerOp(wall, n)).
		with("wall_ms", ms(wall)).
		with("peak_rss_kb", procStatusKB("VmHWM"))
}

// ---------------------------------------------------------------------------
// yield N: 100 goroutines each call runtime.Gosched() N/100 times.

const yieldGoroutines = 100

func benchYield(n uint64) *report {
	per := n / yieldGoroutines
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(yieldGoroutines)
	for g := 0; g < yieldGoroutines; g++ {
		go func() {
			for i := uint64(0); i < per; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	yields := per * yieldGoroutines
	return newReport("yield", n, nsPerOp(wall, yields)).
		with("wall_ms", ms(wall)).
		with("goroutines", yieldGoroutines).
		with("yields", yields)
}

// ---------------------------------------------------------------------------
// timers N: goroutine i sleeps sleepMsFor(i) ms (1..=100) with time.Sleep and
// records lateness = wake - (start + d), start taken right before the sleep.

// sleepMsFor must stay identical to common::sleep_ms_for in bench/src/common.rs
// (xorshift64 seeded from the index; sum_sleep_ms checks it).
func sleepMsFor(i uint64) uint64 {
	x := (i + 1) * 0x9E3779B97F4A7C15
	for r := 0; r < 2; r++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return 1 + x%100
}

func benchTimers(n uint64) *report {
	late := make([]int64, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func(i uint64) {
			d := time.Duration(sleepMsFor(i)) * time.Millisecond
			start := time.Now()
			time.Sleep(d)
			late[i] = int64(time.Since(start) - d)
			wg.Done()
		}(i)
	}
	wg.Wait()
	wall := time.Since(t0)

	sort.Slice(late, func(a, b int) bool { return late[a] < late[b] })
	var sum float64
	for _, x := range late {
		sum += float64(x)
	}
	rank := (n*99 + 99) / 100 // nearest-rank p99, 1-based
	if rank < 1 {
		rank = 1
	}
	var sumSleep uint64
	for i := uint64(0); i < n; i++ {
		sumSleep += sleepMsFor(i)
	}
	return newReport("timers", n, nsPerOp(wall, n)).
		with("wall_ms", ms(wall)).
		with("mean_late_us", fmt.Sprintf("%.1f", sum/float64(n)/1e3)).
		with("p99_late_us", fmt.Sprintf("%.1f", float64(late[rank-1])/1e3)).
		with("max_late_us", fmt.Sprintf("%.1f", float64(late[n-1])/1e3)).
		with("sum_sleep_ms", sumSleep)
}

// ---------------------------------------------------------------------------
// parked N: N goroutines park in time.Sleep(1s); once all have started, read
// VmRSS: rss_bytes_per_g = (rss_parked - rss_before) / N. A goroutine whose
// sleep ends before `release` is set sleeps again (counted in rewakes), so all
// N are still parked when RSS is read even if spawning takes over 1 s.

const (
	park = time.Second
	poll = time.Millisecond
)

func benchParked(n uint64) *report {
	var started, rewakes, release uint64
	var wg sync.WaitGroup
	rssBefore := rssBytes()
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func() {
			atomic.AddUint64(&started, 1)
			time.Sleep(park)
			for atomic.LoadUint64(&release) == 0 {
				atomic.AddUint64(&rewakes, 1)
				time.Sleep(park)
			}
			wg.Done()
		}()
	}
	for atomic.LoadUint64(&started) < n {
		time.Sleep(poll)
	}
	spawn := time.Since(t0)
	rssParked := rssBytes()
	atomic.StoreUint64(&release, 1)
	wg.Wait()
	wall := time.Since(t0)

	var grown uint64
	if rssParked > rssBefore {
		grown = rssParked - rssBefore
	}
	return newReport("parked", n, nsPerOp(spawn, n)).
		with("rss_bytes_per_g", fmt.Sprintf("%.1f", float64(grown)/float64(n))).
		with("spawn_ms", ms(spawn)).
		with("rss_before_kb", rssBefore/1024).
		with("rss_parked_kb", rssParked/1024).
		with("rewakes", atomic.LoadUint64(&rewakes)).
		with("wall_ms", ms(wall))
}

// ---------------------------------------------------------------------------
// preempt N: on ONE processor, a spinner goroutine loops with no calls while
// the main goroutine (the sleeper) loops t = now; time.Sleep(1 ms);
// gap = now - t, for N ms, then sets stop. Headline max_gap_ms: how long the
// sleeper went without running; only preemption of the spinner keeps it low.
// See bench/src/preempt.rs for the full definition.
//
// The Rust versions stop the spinner from a plain OS thread after N + 1000 ms
// as a safety net, should the sleeper never run. Go has no thread outside its
// scheduler without cgo, so here the spinner itself checks the time, but only
// every 2^27 iterations (~160 ms at ~1.2 ns per iteration; > 50 ms on any
// current CPU): time.Since is a call, i.e. a point where Go could preempt
// synchronously, and checking rarely keeps it from shaping the gaps (sysmon's
// async preemption comes after 10 ms).

const (
	preemptTick         = time.Millisecond
	preemptSafetyMargin = time.Second
	preemptCheckMask    = 1<<27 - 1
)

// Values of the shared stop flag.
const (
	stopRunning = iota
	stopBySleeper
	stopBySafetyNet
)

// preemptSink keeps the spinner's arithmetic from being optimised away.
var preemptSink uint64

func spin(stop *uint32, start time.Time, limit time.Duration) uint64 {
	x, iters := uint64(1), uint64(0)
	// atomic.LoadUint32 is an intrinsic: no call in the loop but the rare
	// safety check.
	for atomic.LoadUint32(stop) == stopRunning {
		x = x*6364136223846793005 + 1442695040888963407
		iters++
		if iters&preemptCheckMask == 0 && time.Since(start) >= limit {
			atomic.CompareAndSwapUint32(stop, stopRunning, stopBySafetyNet)
		}
	}
	preemptSink = x
	return iters
}

func benchPreempt(n uint64) *report {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	duration := time.Duration(n) * time.Millisecond
	var stop uint32
	var iters uint64
	done := make(chan struct{})
	gaps := make([]int64, 0, n+16)
	// The first gap starts before the spinner exists, so its first turn on
	// the processor is measured even if the go statement switched to it.
	start := time.Now()
	t := start
	go func() {
		iters = spin(&stop, start, duration+preemptSafetyMargin)
		close(done)
	}()
	for {
		time.Sleep(preemptTick)
		now := time.Now()
		gaps = append(gaps, int64(now.Sub(t)))
		if now.Sub(start) >= duration {
			break
		}
		t = time.Now()
	}
	atomic.CompareAndSwapUint32(&stop, stopRunning, stopBySleeper)
	<-done
	wall := time.Since(start)

	wakes := uint64(len(gaps))
	sort.Slice(gaps, func(a, b int) bool { return gaps[a] < gaps[b] })
	var sum float64
	for _, g := range gaps {
		sum += float64(g)
	}
	rank := (wakes*99 + 99) / 100 // nearest-rank p99, 1-based
	if rank < 1 {
		rank = 1
	}
	safety := 0
	if atomic.LoadUint32(&stop) == stopBySafetyNet {
		safety = 1
	}
	r := newReport("preempt", n, nsPerOp(wall, wakes)).
		with("max_gap_ms", fmt.Sprintf("%.3f", float64(gaps[wakes-1])/1e6)).
		with("mean_gap_ms", fmt.Sprintf("%.3f", sum/float64(wakes)/1e6)).
		with("p99_gap_ms", fmt.Sprintf("%.3f", float64(gaps[rank-1])/1e6)).
		with("wakes", wakes).
		with("spin_iters_m", fmt.Sprintf("%.1f", float64(iters)/1e6)).
		with("safety_stop", safety).
		with("wall_ms", ms(wall))
	r.threads = runtime.GOMAXPROCS(0)
	return r
}

// ---------------------------------------------------------------------------

var workloads = []struct {
	name     string
	defaultN uint64
	run      func(uint64) *report
}{
	{"spawn", 1_000_000, benchSpawn},
	{"yield", 10_000_000, benchYield},
	{"timers", 100_000, benchTimers},
	{"parked", 1_000_000, benchParked},
	{"preempt", 2000, benchPreempt}, // N is a duration in ms
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s <spawn|yield|timers|parked|preempt> [N]\n", os.Args[0])
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		usage()
	}
	for _, w := range workloads {
		if w.name != os.Args[1] {
			continue
		}
		n := w.defaultN
		if len(os.Args) == 3 {
			v, err := strconv.ParseUint(strings.ReplaceAll(os.Args[2], "_", ""), 10, 64)
			if err != nil || v == 0 {
				usage()
			}
			n = v
		}
		r := w.run(n)
		threads := r.threads
		if threads == 0 {
			threads = runtime.GOMAXPROCS(0)
		}
		r = r.with("impl", "go").with("threads", threads)
		fmt.Println(r.line())
		return
	}
	usage()
}
