package calls

import "sync"

// refusals logs refused frames at Warn once per source context and kind of
// refusal, later ones at Debug, so a context repeating a refused call
// costs one record. The table is bounded (dropped when full).
type refusals struct {
	mu   sync.Mutex
	seen map[refusalKey]bool
}

type refusalKey struct {
	src  uint32
	what string
}

const maxRefusalKeys = 1024

func (ep *Endpoint) refused(src uint32, what string, args ...any) {
	r := &ep.refusals
	r.mu.Lock()
	k := refusalKey{src, what}
	first := !r.seen[k]
	if first {
		if r.seen == nil || len(r.seen) >= maxRefusalKeys {
			r.seen = map[refusalKey]bool{}
		}
		r.seen[k] = true
	}
	r.mu.Unlock()
	args = append(args, "src", src)
	if first {
		ep.log.Warn(what, args...)
	} else {
		ep.log.Debug(what, args...)
	}
}
