// Package fdcount counts the open file descriptors of this process, for
// tests that check nothing leaks.
package fdcount

import (
	"os"
	"testing"
	"time"
)

// Count returns how many descriptors this process has open (Linux:
// /proc/self/fd, not counting the one used to read it).
func Count() (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(ents) - 1, nil
}

// Open is Count for a test; an error fails the test.
func Open(t testing.TB) int {
	t.Helper()
	n, err := Count()
	if err != nil {
		t.Fatalf("count open descriptors: %v", err)
	}
	return n
}

// Await waits up to within until the count is want (descriptors are often
// closed on other goroutines or in other processes), and fails the test
// otherwise.
func Await(t testing.TB, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := Open(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("open descriptors: %d, want %d (leak or double close)", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
