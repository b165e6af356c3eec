package spawn

// WithoutPdeathsig leaves Pdeathsig off for the child opts starts, as on
// darwin and the BSDs (the child must then exit on its link's EOF).
func WithoutPdeathsig(opts *Options) { opts.noPdeathsig = true }
