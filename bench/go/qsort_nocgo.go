//go:build !cgo

// Without cgo there is no qsort workload: the Go version (qsort_cgo.go) calls
// C. bench/run.py builds gobench with CGO_ENABLED=0 for every other workload
// (as before qsort existed: a pure Go binary) and gobench-cgo for this one.

package main

import (
	"fmt"
	"os"
)

func benchQsort(uint64) *report {
	fmt.Fprintln(os.Stderr, "qsort: this gobench was built without cgo; build it with CGO_ENABLED=1 (needs a C compiler)")
	os.Exit(2)
	return nil
}
