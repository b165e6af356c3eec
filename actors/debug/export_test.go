package debug

import "context"

// SampleNow takes a sample at once (for the benchmarks).
func (v *View) SampleNow(ctx context.Context) error { return v.sample(ctx, false) }
