// Command gobench is the Go peer of gort-bench: the same workloads as
// bench/src/{spawn,yielding,timers,parked,preempt,pingpong,chanthroughput,
// mutex,parkedchan,qsort,echo,idle}.rs, printing the same one-line
// `name=<w> n=<N> ns_per_op=<x> key=value ...` format. It uses only the
// standard library and the default GOMAXPROCS (= cores), except preempt,
// which runs with GOMAXPROCS(1). qsort calls C through cgo (qsort_cgo.go,
// qsort_cgo.c); built without cgo (qsort_nocgo.go) it has every other
// workload and is a pure Go binary, which is how bench/run.py builds gobench.
//
//	CGO_ENABLED=0 go build -o gobench && ./gobench <workload> [N]
//	CGO_ENABLED=1 go build -o gobench-cgo && ./gobench-cgo qsort [N]
//
// kv is not a workload of this binary: bench/run.py drives the Go RESP
// server in bench/go/kv (built as kvserver) with redis-benchmark.
//
// Every workload runs in the main goroutine (Go's main is itself a goroutine,
// as the workload is in gort::run / a tokio worker task / a may coroutine).
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
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
// spawnjoin N: the handle idiom of bench/src/spawnjoin.rs. Go has no join
// handles: goroutine i stores i in results[i] and calls wg.Done(); the
// spawner waits once and sums the slice (checked against N(N-1)/2).

func benchSpawnJoin(n uint64) *report {
	results := make([]uint64, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func(i uint64) {
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	var sum uint64
	for _, r := range results {
		sum += r
	}
	wall := time.Since(t0)
	if want := n * (n - 1) / 2; sum != want {
		panic(fmt.Sprintf("spawnjoin: sum %d != %d", sum, want))
	}
	return newReport("spawnjoin", n, nsPerOp(wall, n)).
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
// pingpong N: the main goroutine (A) sends i on the unbuffered channel c1, a
// second goroutine (B) receives it and sends it back on the unbuffered c2, A
// receives it and checks it; N round trips. ns_per_op = wall / N. See
// bench/src/pingpong.rs.

func benchPingPong(n uint64) *report {
	c1 := make(chan uint64)
	c2 := make(chan uint64)
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		for v := range c1 {
			c2 <- v
		}
		close(done)
	}()
	for i := uint64(0); i < n; i++ {
		c1 <- i
		if v := <-c2; v != i {
			panic(fmt.Sprintf("pingpong: sent %d, got %d back", i, v))
		}
	}
	wall := time.Since(t0)
	close(c1)
	<-done
	return newReport("pingpong", n, nsPerOp(wall, n)).with("wall_ms", ms(wall))
}

// ---------------------------------------------------------------------------
// chanthroughput N: 4 producers send N/4 uint64s each (producer p sends
// p*per .. (p+1)*per) on one channel of capacity 1024; 4 consumers sum what
// they receive until it is closed; the sums must add up to 0+1+...+(msgs-1)
// (mod 2^64). ns_per_op = wall / msgs. See bench/src/chanthroughput.rs.

const (
	chanProducers = 4
	chanConsumers = 4
	chanCap       = 1024
)

// expectedSum must stay identical to chanthroughput::expected_sum.
func expectedSum(m uint64) uint64 {
	if m%2 == 0 {
		return (m / 2) * (m - 1)
	}
	return m * ((m - 1) / 2)
}

func benchChanThroughput(n uint64) *report {
	per := n / chanProducers
	msgs := per * chanProducers
	ch := make(chan uint64, chanCap)
	sums := make([]uint64, chanConsumers)
	var producers, consumers sync.WaitGroup
	t0 := time.Now()
	consumers.Add(chanConsumers)
	for c := 0; c < chanConsumers; c++ {
		go func(c int) {
			var sum uint64
			for v := range ch {
				sum += v
			}
			sums[c] = sum
			consumers.Done()
		}(c)
	}
	producers.Add(chanProducers)
	for p := uint64(0); p < chanProducers; p++ {
		go func(p uint64) {
			for v := p * per; v < (p+1)*per; v++ {
				ch <- v
			}
			producers.Done()
		}(p)
	}
	producers.Wait()
	close(ch)
	consumers.Wait()
	wall := time.Since(t0)
	var sum uint64
	for _, s := range sums {
		sum += s
	}
	if want := expectedSum(msgs); sum != want {
		panic(fmt.Sprintf("chanthroughput: consumers summed %d, expected %d", sum, want))
	}
	return newReport("chanthroughput", n, nsPerOp(wall, msgs)).
		with("wall_ms", ms(wall)).
		with("msgs", msgs).
		with("producers", chanProducers).
		with("consumers", chanConsumers).
		with("cap", chanCap)
}

// ---------------------------------------------------------------------------
// mutex N: 8 goroutines each do N/8 times Lock; count++; Unlock on one
// sync.Mutex; the count must equal ops. ns_per_op = wall / ops (one
// lock/unlock pair). See bench/src/mutex.rs.

const mutexGoroutines = 8

func benchMutex(n uint64) *report {
	per := n / mutexGoroutines
	ops := per * mutexGoroutines
	var mu sync.Mutex
	var count uint64
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(mutexGoroutines)
	for g := 0; g < mutexGoroutines; g++ {
		go func() {
			for i := uint64(0); i < per; i++ {
				mu.Lock()
				count++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	mu.Lock()
	c := count
	mu.Unlock()
	if c != ops {
		panic(fmt.Sprintf("mutex: count %d != %d increments", c, ops))
	}
	return newReport("mutex", n, nsPerOp(wall, ops)).
		with("wall_ms", ms(wall)).
		with("goroutines", mutexGoroutines).
		with("ops", ops)
}

// ---------------------------------------------------------------------------
// parkedchan N: N goroutines each block receiving on their own unbuffered
// channel. Once all have started (polled as in parked), read VmRSS:
// rss_bytes_per_g = (rss_parked - rss_before) / N, channels included; then
// send i on channel i and wait for all: wake_ns_per_g = wake time / N.
// ns_per_op = park time / N. See bench/src/parkedchan.rs.

func benchParkedChan(n uint64) *report {
	var started, bad uint64
	var wg sync.WaitGroup
	chans := make([]chan uint64, n)
	rssBefore := rssBytes()
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		c := make(chan uint64)
		chans[i] = c
		go func(i uint64, c chan uint64) {
			atomic.AddUint64(&started, 1)
			if <-c != i {
				atomic.AddUint64(&bad, 1)
			}
			wg.Done()
		}(i, c)
	}
	for atomic.LoadUint64(&started) < n {
		time.Sleep(poll)
	}
	park := time.Since(t0)
	rssParked := rssBytes()
	t1 := time.Now()
	for i, c := range chans {
		c <- uint64(i)
	}
	wg.Wait()
	wake := time.Since(t1)
	wall := time.Since(t0)
	if b := atomic.LoadUint64(&bad); b != 0 {
		panic(fmt.Sprintf("parkedchan: %d goroutines received another goroutine's value", b))
	}

	var grown uint64
	if rssParked > rssBefore {
		grown = rssParked - rssBefore
	}
	return newReport("parkedchan", n, nsPerOp(park, n)).
		with("rss_bytes_per_g", fmt.Sprintf("%.1f", float64(grown)/float64(n))).
		with("wake_ns_per_g", fmt.Sprintf("%.2f", nsPerOp(wake, n))).
		with("park_ms", ms(park)).
		with("wake_ms", ms(wake)).
		with("rss_before_kb", rssBefore/1024).
		with("rss_parked_kb", rssParked/1024).
		with("wall_ms", ms(wall))
}

// ---------------------------------------------------------------------------
// echo N: 100 TCP connections over loopback; the listener's acceptor starts a
// goroutine per connection that reads up to 4 KiB and writes it back until
// EOF. The clients' 100 conns are dialled first (outside the timing), then a
// goroutine per conn sends N/100 messages of 64 bytes, each followed by
// io.ReadFull of the echo, checked byte for byte. ns_per_op = wall /
// messages; msg_per_s = messages / wall. Go's TCP conns have TCP_NODELAY set
// by default. See bench/src/echo.rs.

const (
	echoConns = 100
	echoMsg   = 64
	echoBuf   = 4096
)

func echoMessage(c, m uint64) []byte {
	b := make([]byte, echoMsg)
	v := byte((c*31 + m) % 251)
	for i := range b {
		b[i] = v
	}
	return b
}

func echoServe(c net.Conn) {
	defer c.Close()
	buf := make([]byte, echoBuf)
	for {
		k, err := c.Read(buf)
		if err != nil {
			if err == io.EOF {
				return
			}
			panic(fmt.Sprintf("echo: server read: %v", err))
		}
		if _, err := c.Write(buf[:k]); err != nil {
			panic(fmt.Sprintf("echo: server write: %v", err))
		}
	}
}

func benchEcho(n uint64) *report {
	per := n / echoConns
	if per == 0 {
		per = 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("echo: listen: %v", err))
	}
	var servers sync.WaitGroup
	servers.Add(echoConns)
	go func() {
		for i := 0; i < echoConns; i++ {
			c, err := l.Accept()
			if err != nil {
				panic(fmt.Sprintf("echo: accept: %v", err))
			}
			go func() {
				echoServe(c)
				servers.Done()
			}()
		}
	}()
	conns := make([]net.Conn, echoConns)
	for i := range conns {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			panic(fmt.Sprintf("echo: dial: %v", err))
		}
		conns[i] = c
	}
	var clients sync.WaitGroup
	t0 := time.Now()
	clients.Add(echoConns)
	for i, c := range conns {
		go func(ci uint64, c net.Conn) {
			back := make([]byte, echoMsg)
			for m := uint64(0); m < per; m++ {
				msg := echoMessage(ci, m)
				if _, err := c.Write(msg); err != nil {
					panic(fmt.Sprintf("echo: client write: %v", err))
				}
				if _, err := io.ReadFull(c, back); err != nil {
					panic(fmt.Sprintf("echo: client read: %v", err))
				}
				if string(msg) != string(back) {
					panic(fmt.Sprintf("echo: connection %d, message %d: sent %v, got %v", ci, m, msg, back))
				}
			}
			clients.Done()
		}(uint64(i), c)
	}
	clients.Wait()
	wall := time.Since(t0)
	for _, c := range conns {
		c.Close()
	}
	servers.Wait()
	l.Close()
	msgs := per * echoConns
	return newReport("echo", n, nsPerOp(wall, msgs)).
		with("msg_per_s", fmt.Sprintf("%.0f", float64(msgs)/wall.Seconds())).
		with("wall_ms", ms(wall)).
		with("msgs", msgs).
		with("conns", echoConns)
}

// ---------------------------------------------------------------------------
// idle N: bytes per idle connection. The clients are a child process (this
// binary re-run with GORT_BENCH_IDLE_CLIENT=<addr>) holding N conns, dialled
// in batches of idleBatch that the server acknowledges on the child's stdin
// once accepted, so each process needs ~N descriptors (Go >= 1.19 raises its soft RLIMIT_NOFILE to
// the hard limit by itself). The server reads VmRSS, accepts N conns with a
// goroutine each that counts itself in `parked` and blocks in io.ReadFull of
// one byte; once all N have counted (polled every 1 ms) and a further 50 ms
// passed, VmRSS again: rss_bytes_per_conn = growth / N. Then a line on the
// child's stdin makes it send one byte per conn; every goroutine echoes it
// and ends; the child checks the echoes and exits 0. ns_per_op = time from
// the first accept until all N were parked / N. Go's listener backlog is
// net.core.somaxconn. See bench/src/idle.rs.

const idleClientEnv = "GORT_BENCH_IDLE_CLIENT"

// idleBatch: the child waits for a line on stdin after every idleBatch
// connections, which the server writes once it has accepted them, so that
// the accept queue never holds more (a full queue drops SYNs, retried after
// 1 s). Same as BATCH in bench/src/idle.rs.
const idleBatch = 500

func idleClient(addr string, n uint64) {
	stdin := bufio.NewReader(os.Stdin)
	waitLine := func() {
		if _, err := stdin.ReadString('\n'); err != nil {
			panic(fmt.Sprintf("idle client: stdin: %v", err))
		}
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			panic(fmt.Sprintf("idle client: dial #%d: %v", i, err))
		}
		conns[i] = c
		if uint64(i+1)%idleBatch == 0 || uint64(i+1) == n {
			waitLine()
		}
	}
	waitLine()
	for i, c := range conns {
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			panic(fmt.Sprintf("idle client: write: %v", err))
		}
	}
	b := make([]byte, 1)
	for i, c := range conns {
		if _, err := io.ReadFull(c, b); err != nil {
			panic(fmt.Sprintf("idle client: read #%d: %v", i, err))
		}
		if b[0] != byte(i) {
			panic(fmt.Sprintf("idle client: connection %d echoed another byte", i))
		}
	}
}

func benchIdle(n uint64) *report {
	if addr := os.Getenv(idleClientEnv); addr != "" {
		idleClient(addr, n)
		os.Exit(0)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("idle: listen: %v", err))
	}
	child := exec.Command(os.Args[0], "idle", strconv.FormatUint(n, 10))
	child.Env = append(os.Environ(), idleClientEnv+"="+l.Addr().String())
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		panic(err)
	}
	if err := child.Start(); err != nil {
		panic(fmt.Sprintf("idle: start the client process: %v", err))
	}
	var parked uint64
	var wg sync.WaitGroup
	rssBefore := rssBytes()
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		c, err := l.Accept()
		if err != nil {
			panic(fmt.Sprintf("idle: accept: %v", err))
		}
		if (i+1)%idleBatch == 0 || i+1 == n {
			if _, err := io.WriteString(stdin, "more\n"); err != nil {
				panic(fmt.Sprintf("idle: write to the client process: %v", err))
			}
		}
		go func(c net.Conn) {
			atomic.AddUint64(&parked, 1)
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				panic(fmt.Sprintf("idle: server read: %v", err))
			}
			if _, err := c.Write(b); err != nil {
				panic(fmt.Sprintf("idle: server write: %v", err))
			}
			wg.Done()
		}(c)
	}
	for atomic.LoadUint64(&parked) < n {
		time.Sleep(poll)
	}
	park := time.Since(t0)
	time.Sleep(50 * time.Millisecond)
	rssIdle := rssBytes()
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		panic(fmt.Sprintf("idle: write to the client process: %v", err))
	}
	wg.Wait()
	if err := child.Wait(); err != nil {
		panic(fmt.Sprintf("idle: the client process failed: %v", err))
	}
	wall := time.Since(t0)
	var grown uint64
	if rssIdle > rssBefore {
		grown = rssIdle - rssBefore
	}
	return newReport("idle", n, nsPerOp(park, n)).
		with("rss_bytes_per_conn", fmt.Sprintf("%.1f", float64(grown)/float64(n))).
		with("park_ms", ms(park)).
		with("rss_before_kb", rssBefore/1024).
		with("rss_idle_kb", rssIdle/1024).
		with("wall_ms", ms(wall))
}

// ---------------------------------------------------------------------------

var workloads = []struct {
	name     string
	defaultN uint64
	run      func(uint64) *report
}{
	{"spawn", 1_000_000, benchSpawn},
	{"spawnjoin", 1_000_000, benchSpawnJoin},
	{"yield", 10_000_000, benchYield},
	{"timers", 100_000, benchTimers},
	{"parked", 1_000_000, benchParked},
	{"preempt", 2000, benchPreempt}, // N is a duration in ms
	{"pingpong", 1_000_000, benchPingPong},
	{"chanthroughput", 4_000_000, benchChanThroughput},
	{"mutex", 8_000_000, benchMutex},
	{"parkedchan", 1_000_000, benchParkedChan},
	{"qsort", 1_000_000, benchQsort}, // qsort_cgo.go (cgo)
	{"echo", 1_000_000, benchEcho},   // N messages over 100 connections
	{"idle", 10_000, benchIdle},      // N connections
}

func usage() {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	fmt.Fprintf(os.Stderr, "usage: %s <%s> [N]\n", os.Args[0], strings.Join(names, "|"))
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
