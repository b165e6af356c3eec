package boot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Cache upkeep (docs/bootstrap.md, "Cache upkeep"): the policy, its form in
// the child's environment, and the pure decision of what to remove. The IO
// is in prune.go.

// CachePolicyEnv carries the policy to the child, which prunes its own
// cache directory once it runs (the bootstrap is a shell script; the
// child has the lock primitives).
const CachePolicyEnv = "SPINDLE_CACHE_POLICY"

// Defaults of CachePolicy.
const (
	DefaultCacheMaxAge   = 30 * 24 * time.Hour
	DefaultCacheMaxBytes = 1 << 30
	DefaultCacheKeep     = 2
	DefaultCacheEvery    = time.Hour
)

// Fixed rules of the pruner, whatever the policy.
const (
	// PruneGrace protects a binary used (or written) this recently: a
	// start that found it may not hold its lock yet.
	PruneGrace = 10 * time.Minute
	// StaleTemp is the age of a temporary upload file, or of a probe the
	// script left, after which it is removed.
	StaleTemp = 24 * time.Hour
)

// CachePolicy bounds a binary cache directory. Zero values mean the
// defaults; a negative MaxAge or MaxBytes means no such bound.
type CachePolicy struct {
	// MaxAge removes a binary not used for this long. Default 30 days.
	MaxAge time.Duration
	// MaxBytes bounds the binaries' total size: the least recently used
	// go first. Default 1 GiB. Binaries in use count, and are kept even
	// when they alone exceed it.
	MaxBytes int64
	// Keep is how many of the most recently used binaries are kept
	// whatever their age and size. Default 2; negative: none.
	Keep int
	// Every is the least time between two prunes of one directory.
	// Default 1 hour.
	Every time.Duration
	// Off turns pruning off (in-use locks are still taken).
	Off bool
}

// Resolved returns p with the defaults filled in.
func (p CachePolicy) Resolved() CachePolicy {
	if p.MaxAge == 0 {
		p.MaxAge = DefaultCacheMaxAge
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = DefaultCacheMaxBytes
	}
	if p.Keep == 0 {
		p.Keep = DefaultCacheKeep
	}
	if p.Keep < 0 {
		p.Keep = -1 // none
	}
	if p.Every <= 0 {
		p.Every = DefaultCacheEvery
	}
	if p.MaxAge < 0 {
		p.MaxAge = -1
	}
	if p.MaxBytes < 0 {
		p.MaxBytes = -1
	}
	return p
}

// Encode is the policy's form in CachePolicyEnv: "off", or
// "age=S,bytes=N,keep=K,every=S" (seconds, bytes; -1 for no bound), after
// the defaults.
func (p CachePolicy) Encode() string {
	if p.Off {
		return "off"
	}
	r := p.Resolved()
	secs := func(d time.Duration) int64 {
		if d < 0 {
			return -1
		}
		return int64(d / time.Second)
	}
	return fmt.Sprintf("age=%d,bytes=%d,keep=%d,every=%d", secs(r.MaxAge), r.MaxBytes, max(r.Keep, 0), secs(r.Every))
}

// maxPolicySeconds bounds the durations a policy may name (100 years).
const maxPolicySeconds = 100 * 365 * 24 * 3600

// ParseCachePolicy reads Encode's form (an empty string: the defaults). It
// is strict: the four fields in order, decimal, in range.
func ParseCachePolicy(s string) (CachePolicy, error) {
	switch s {
	case "":
		return CachePolicy{}.Resolved(), nil
	case "off":
		return CachePolicy{Off: true}.Resolved(), nil
	}
	bad := func(why string) (CachePolicy, error) {
		return CachePolicy{}, fmt.Errorf("spawn: %s=%.80q: %s", CachePolicyEnv, s, why)
	}
	fields := strings.Split(s, ",")
	names := []string{"age", "bytes", "keep", "every"}
	if len(fields) != len(names) {
		return bad("want age=S,bytes=N,keep=K,every=S")
	}
	var v [4]int64
	for i, f := range fields {
		k, num, ok := strings.Cut(f, "=")
		if !ok || k != names[i] {
			return bad("want " + names[i] + "=")
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n < -1 || (i != 1 && n > maxPolicySeconds) {
			return bad("bad " + names[i])
		}
		v[i] = n
	}
	if v[2] < 0 || v[2] > 1<<20 || v[3] <= 0 || v[0] == 0 || v[1] == 0 {
		return bad("keep, every, age or bytes out of range")
	}
	p := CachePolicy{MaxAge: time.Duration(v[0]) * time.Second, MaxBytes: v[1], Keep: int(v[2]), Every: time.Duration(v[3]) * time.Second}
	if v[0] < 0 {
		p.MaxAge = -1
	}
	if p.Keep == 0 {
		p.Keep = -1 // keep none, as given (0 would mean the default)
	}
	return p.Resolved(), nil
}

// CacheEntry is one file of a cache directory the pruner may remove.
type CacheEntry struct {
	Name    string
	Size    int64
	LastUse time.Time // the later of its access and modification times
	Temp    bool      // a temporary upload or probe, not a binary
	InUse   bool      // a context holds its lock (or it could not be told)
}

// PrunePlan is what a prune decides: the names to remove, and the
// binaries' total size once they are gone.
type PrunePlan struct {
	Remove []string
	Bytes  int64 // binaries kept, in bytes
	Kept   int   // binaries kept
	Over   bool  // Bytes is still over MaxBytes (what is left is in use or protected)
}

// PlanPrune decides what to remove from a cache directory's entries under
// policy p at time now. It is a pure function: never a binary in use, in
// its PruneGrace, or among the p.Keep most recently used; then those not
// used for p.MaxAge; then, while the binaries exceed p.MaxBytes, the least
// recently used. Temporary files go after StaleTemp.
func PlanPrune(entries []CacheEntry, p CachePolicy, now time.Time) PrunePlan {
	p = p.Resolved()
	var plan PrunePlan
	var bins []CacheEntry
	for _, e := range entries {
		switch {
		case e.Temp && !e.InUse && now.Sub(e.LastUse) > StaleTemp:
			plan.Remove = append(plan.Remove, e.Name)
		case !e.Temp:
			bins = append(bins, e)
		}
	}
	// Most recently used first; the name breaks ties, so the plan does
	// not depend on the order the directory was read in.
	sort.Slice(bins, func(i, j int) bool {
		if !bins[i].LastUse.Equal(bins[j].LastUse) {
			return bins[i].LastUse.After(bins[j].LastUse)
		}
		return bins[i].Name < bins[j].Name
	})
	removable := func(i int) bool {
		e := bins[i]
		return i >= max(p.Keep, 0) && !e.InUse && now.Sub(e.LastUse) >= PruneGrace
	}
	gone := make([]bool, len(bins))
	for i, e := range bins {
		if removable(i) && p.MaxAge >= 0 && now.Sub(e.LastUse) > p.MaxAge {
			gone[i] = true
		} else {
			plan.Bytes += e.Size
		}
	}
	for i := len(bins) - 1; i >= 0 && p.MaxBytes >= 0 && plan.Bytes > p.MaxBytes; i-- {
		if !gone[i] && removable(i) {
			gone[i] = true
			plan.Bytes -= bins[i].Size
		}
	}
	for i, e := range bins {
		if gone[i] {
			plan.Remove = append(plan.Remove, e.Name)
		} else {
			plan.Kept++
		}
	}
	plan.Over = p.MaxBytes >= 0 && plan.Bytes > p.MaxBytes
	return plan
}

// Names the pruner knows; every other name in a cache directory is left
// alone.
const (
	binPrefix   = "spindle-"
	stampName   = ".spindle-prune"
	probePrefix = ".probe-"
)

// classifyName says whether name is one of ours: a binary ("spindle-" and
// a lower-case hex SHA-256), a temporary upload (".spindle-SHA.X.tmp", and
// ".tmp.in" of the BSD path, X letters and digits), or a probe the script
// left (".probe-PID").
func classifyName(name string) (ours, temp bool) {
	if d, ok := strings.CutPrefix(name, binPrefix); ok {
		return ValidDigest(d), false
	}
	if rest, ok := strings.CutPrefix(name, probePrefix); ok {
		return rest != "" && strings.Trim(rest, "0123456789") == "", true
	}
	rest, ok := strings.CutPrefix(name, "."+binPrefix)
	if !ok || len(rest) < 66 || !ValidDigest(rest[:64]) || rest[64] != '.' {
		return false, false
	}
	tok, ok := strings.CutSuffix(rest[65:], ".tmp")
	if !ok {
		tok, ok = strings.CutSuffix(rest[65:], ".tmp.in")
	}
	if !ok || tok == "" || len(tok) > 64 {
		return false, false
	}
	for _, c := range tok {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false, false
		}
	}
	return true, true
}
