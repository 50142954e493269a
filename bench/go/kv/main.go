// Command kvserver is the Go peer of gort's examples/kv.rs for the `kv`
// benchmark: a Redis-protocol (RESP2) key-value server written the same way,
// the way a Go programmer writes it first: one goroutine per connection,
// bufio reader and writer on the conn, 64 sync.Mutex-sharded maps (FNV-1a of
// the key picks the shard), values with an optional expiry checked on every
// access (as kv.rs does), and pipelining by flushing the writer only once
// the reader's buffer is used up.
//
//	cd bench/go && go build -o kvserver ./kv && ./kvserver 127.0.0.1:6391
//	redis-benchmark -p 6391 -t set,get,incr -n 200000 -c 50 -q
//
// Commands: PING, ECHO, SET (EX/PX/NX/XX), GET, DEL, EXISTS, INCR, DECR,
// DBSIZE, FLUSHALL/FLUSHDB, QUIT, and the COMMAND/CONFIG/CLIENT/SELECT stubs
// clients send when they connect. Unknown commands get a RESP error;
// malformed framing gets one and closes the connection. bench/run.py starts
// it, waits for it to answer, runs redis-benchmark against it, and kills it.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

const shards = 64

type entry struct {
	value   []byte
	expires time.Time // zero: no expiry
}

func (e *entry) live(now time.Time) bool { return e.expires.IsZero() || e.expires.After(now) }

type shard struct {
	mu sync.Mutex
	m  map[string]*entry
}

type db struct{ shards [shards]shard }

func newDB() *db {
	d := &db{}
	for i := range d.shards {
		d.shards[i].m = make(map[string]*entry)
	}
	return d
}

func (d *db) shard(key []byte) *shard {
	h := uint64(0xcbf29ce484222325)
	for _, b := range key {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return &d.shards[h%shards]
}

// get returns the live entry for key (an expired one is removed); the
// shard's lock must be held.
func (s *shard) get(key []byte, now time.Time) *entry {
	e, ok := s.m[string(key)]
	if !ok {
		return nil
	}
	if !e.live(now) {
		delete(s.m, string(key))
		return nil
	}
	return e
}

// ---------------------------------------------------------------------------
// RESP2 output.

func writeSimple(w *bufio.Writer, s string) {
	w.WriteByte('+')
	w.WriteString(s)
	w.WriteString("\r\n")
}
func writeError(w *bufio.Writer, s string) {
	w.WriteString("-ERR ")
	w.WriteString(s)
	w.WriteString("\r\n")
}
func writeInt(w *bufio.Writer, n int64) {
	w.WriteByte(':')
	w.WriteString(strconv.FormatInt(n, 10))
	w.WriteString("\r\n")
}
func writeNil(w *bufio.Writer) { w.WriteString("$-1\r\n") }
func writeBulk(w *bufio.Writer, b []byte) {
	w.WriteByte('$')
	w.WriteString(strconv.Itoa(len(b)))
	w.WriteString("\r\n")
	w.Write(b)
	w.WriteString("\r\n")
}

// ---------------------------------------------------------------------------
// RESP2 input.

type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }

func trimCRLF(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\n' {
		l = l[:n-1]
	}
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l
}

// readLine reads one line; the slice is only valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	l, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, &protoError{"Protocol error: too big inline request"}
	}
	return l, err
}

// readCommand reads one command: a RESP array of bulk strings, or an inline
// command (a line of words, what telnet sends). io.EOF at a command boundary
// or inside one ends the connection quietly; a *protoError is answered and
// then closes it.
func readCommand(r *bufio.Reader) ([][]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	line = trimCRLF(line)
	if len(line) == 0 || line[0] != '*' {
		var args [][]byte
		for _, f := range strings.Fields(string(line)) {
			args = append(args, []byte(f))
		}
		return args, nil
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, &protoError{"Protocol error: invalid multibulk length"}
	}
	args := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		hdr, err := readLine(r)
		if err != nil {
			return nil, err
		}
		hdr = trimCRLF(hdr)
		if len(hdr) == 0 || hdr[0] != '$' {
			c := byte(' ')
			if len(hdr) > 0 {
				c = hdr[0]
			}
			return nil, &protoError{fmt.Sprintf("Protocol error: expected '$', got '%c'", c)}
		}
		size, err := strconv.Atoi(string(hdr[1:]))
		if err != nil || size < 0 || size > 512<<20 {
			return nil, &protoError{"Protocol error: invalid bulk length"}
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil, io.EOF
			}
			return nil, err
		}
		if buf[size] != '\r' || buf[size+1] != '\n' {
			return nil, &protoError{"Protocol error: bulk without CRLF"}
		}
		args = append(args, buf[:size])
	}
	return args, nil
}

// ---------------------------------------------------------------------------
// Commands.

func incrBy(d *db, w *bufio.Writer, key []byte, by int64) {
	s := d.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	var cur int64
	var expires time.Time
	if e := s.get(key, now); e != nil {
		v, err := strconv.ParseInt(string(e.value), 10, 64)
		if err != nil {
			writeError(w, "value is not an integer or out of range")
			return
		}
		cur, expires = v, e.expires
	}
	n := cur + by
	if (by > 0 && n < cur) || (by < 0 && n > cur) {
		writeError(w, "increment or decrement would overflow")
		return
	}
	s.m[string(key)] = &entry{value: []byte(strconv.FormatInt(n, 10)), expires: expires}
	writeInt(w, n)
}

func set(d *db, w *bufio.Writer, a [][]byte) {
	var expires time.Time
	nx, xx := false, false
	for i := 2; i < len(a); i++ {
		switch opt := strings.ToLower(string(a[i])); opt {
		case "nx":
			nx = true
		case "xx":
			xx = true
		case "ex", "px":
			if i+1 >= len(a) {
				writeError(w, "invalid expire time in 'set' command")
				return
			}
			v, err := strconv.ParseInt(string(a[i+1]), 10, 64)
			if err != nil || v <= 0 {
				writeError(w, "invalid expire time in 'set' command")
				return
			}
			if opt == "ex" {
				v *= 1000
			}
			expires = time.Now().Add(time.Duration(v) * time.Millisecond)
			i++
		default:
			writeError(w, "syntax error")
			return
		}
	}
	if nx && xx {
		writeError(w, "syntax error")
		return
	}
	s := d.shard(a[0])
	s.mu.Lock()
	exists := s.get(a[0], time.Now()) != nil
	if (nx && exists) || (xx && !exists) {
		s.mu.Unlock()
		writeNil(w)
		return
	}
	// The args were read into fresh buffers, so the value can be kept as is.
	s.m[string(a[0])] = &entry{value: a[1], expires: expires}
	s.mu.Unlock()
	writeSimple(w, "OK")
}

func execute(d *db, w *bufio.Writer, args [][]byte) {
	cmd := strings.ToLower(string(args[0]))
	a := args[1:]
	switch {
	case cmd == "ping" && len(a) == 0:
		writeSimple(w, "PONG")
	case (cmd == "ping" || cmd == "echo") && len(a) == 1:
		writeBulk(w, a[0])
	case cmd == "get" && len(a) == 1:
		s := d.shard(a[0])
		s.mu.Lock()
		if e := s.get(a[0], time.Now()); e != nil {
			writeBulk(w, e.value)
		} else {
			writeNil(w)
		}
		s.mu.Unlock()
	case cmd == "set" && len(a) >= 2:
		set(d, w, a)
	case (cmd == "del" || cmd == "exists") && len(a) >= 1:
		var n int64
		for _, k := range a {
			s := d.shard(k)
			s.mu.Lock()
			if s.get(k, time.Now()) != nil {
				n++
				if cmd == "del" {
					delete(s.m, string(k))
				}
			}
			s.mu.Unlock()
		}
		writeInt(w, n)
	case cmd == "incr" && len(a) == 1:
		incrBy(d, w, a[0], 1)
	case cmd == "decr" && len(a) == 1:
		incrBy(d, w, a[0], -1)
	case cmd == "dbsize" && len(a) == 0:
		var n int64
		now := time.Now()
		for i := range d.shards {
			s := &d.shards[i]
			s.mu.Lock()
			for _, e := range s.m {
				if e.live(now) {
					n++
				}
			}
			s.mu.Unlock()
		}
		writeInt(w, n)
	case cmd == "flushall" || cmd == "flushdb":
		for i := range d.shards {
			s := &d.shards[i]
			s.mu.Lock()
			s.m = make(map[string]*entry)
			s.mu.Unlock()
		}
		writeSimple(w, "OK")
	// What clients send when they connect (redis-cli, redis-benchmark).
	case cmd == "command":
		w.WriteString("*0\r\n")
	case cmd == "config" && len(a) == 2 && strings.EqualFold(string(a[0]), "get"):
		w.WriteString("*2\r\n")
		writeBulk(w, a[1])
		writeBulk(w, nil)
	case cmd == "config":
		w.WriteString("*0\r\n")
	case cmd == "client" || (cmd == "select" && len(a) == 1):
		writeSimple(w, "OK")
	default:
		switch cmd {
		case "ping", "echo", "get", "set", "del", "exists", "incr", "decr", "dbsize", "select":
			writeError(w, fmt.Sprintf("wrong number of arguments for '%s' command", cmd))
			return
		}
		writeError(w, fmt.Sprintf("unknown command '%s'", args[0]))
	}
}

func serve(d *db, c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 16*1024)
	w := bufio.NewWriterSize(c, 16*1024)
	for {
		args, err := readCommand(r)
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				writeError(w, pe.msg)
			}
			w.Flush()
			return
		}
		quit := false
		if len(args) > 0 {
			if strings.EqualFold(string(args[0]), "quit") {
				writeSimple(w, "OK")
				quit = true
			} else {
				execute(d, w, args)
			}
		}
		// Pipelining: answer once the buffered input is used up (the writer
		// also flushes by itself when its 16 KiB fill up).
		if quit || r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if quit {
			return
		}
	}
}

func main() {
	addr := "127.0.0.1:6391"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kv:", err)
		os.Exit(1)
	}
	fmt.Println("kv: listening on", l.Addr())
	d := newDB()
	for {
		c, err := l.Accept()
		if err != nil {
			// Out of descriptors, a client gone before its accept: go on.
			fmt.Fprintln(os.Stderr, "kv: accept:", err)
			continue
		}
		go serve(d, c)
	}
}
